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
