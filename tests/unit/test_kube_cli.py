"""`kubemedic reset` / `node add|remove`: bad input exits 2 before any host is contacted, and
destructive verbs refuse to run without a terminal or --yes (the example inventory's hosts
do not exist, so reaching a host would show up as exit 4, not 2)."""

from __future__ import annotations

import json

from tests.conftest import run_kubemedic


def test_node_not_in_inventory_exits_2() -> None:
    result = run_kubemedic("node", "add", "-c", "example", "no-such-node")
    assert result.returncode == 2
    assert "no-such-node" in result.stderr and "hosts.yml" in result.stderr


def test_first_master_cannot_be_removed() -> None:
    result = run_kubemedic("node", "remove", "-c", "example", "master1", "--yes")
    assert result.returncode == 2
    assert "first_master" in result.stderr


def test_reset_needs_confirmation_without_a_terminal() -> None:
    result = run_kubemedic("reset", "-c", "example", "--reinit")
    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_kube_reset_steps_are_listed() -> None:
    result = run_kubemedic("recover", "--list", "--json")
    names = {step["name"] for step in json.loads(result.stdout)}
    assert {"kube-reset", "after-reboot", "master-ip-change"} <= names


def test_node_add_skips_what_the_inventory_keeps_out_of_bootstrap(tmp_path) -> None:
    """The real Kubernetes lab (air-gapped, `common` skipped by cluster_bootstrap_skip_tags):
    `node add` ran common anyway and failed on the packages no bundle carries. It now skips the
    inventory's skipped tags that node-add.yml has (firewall is not one of them), as bootstrap
    does. The host does not exist: the run ends unreachable (4), after the skip is recorded."""
    from tests.unit.test_cli import write_inventory

    write_inventory(tmp_path / "inv", "acme", {"node1": {"ansible_host": "127.0.0.1"},
                                               "node2": {"ansible_host": "127.0.0.2"}},
                    cluster_bootstrap_skip_tags=["common", "firewall"])
    env = {"KUBEMEDIC_INVENTORY_DIR": str(tmp_path / "inv"),
           "KUBEMEDIC_STATE_DIR": str(tmp_path / "state"),
           "ANSIBLE_SSH_ARGS": "-o ConnectTimeout=2"}
    result = run_kubemedic("node", "add", "-c", "acme", "node2", "--json", env=env, timeout=300)
    assert "skipping common (cluster_bootstrap_skip_tags of acme)" in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    record = json.loads((tmp_path / "state" / "runs" / "acme").glob("*/summary.json")
                        .__next__().read_text())
    assert record["skip_tags"] == ["common"], record
    assert summary["rc"] in (3, 4), summary
