"""`kubemedic heal` end to end on this machine: real ansible-runner runs with local connections.

TEST DOUBLES: kubectl is tests/doubles/fake-kubectl (records every call, keeps node state in a
JSON file next to its kubeconfig); the kernel log is a file per host fed with real Xid lines in
the seed 003 / driver format (never /dev/kmsg: it is shared with the host).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_kubemedic
from tests.unit.test_cli import write_inventory

FAKE_KUBECTL = REPO / "tests" / "doubles" / "fake-kubectl"


@pytest.fixture()
def cluster(tmp_path: Path):
    kube = tmp_path / "kube"
    kube.mkdir()
    (kube / "nodes.json").write_text(json.dumps({
        "master1": {}, "gpu1": {"labels": {"app": "demo"}}, "gpu2": {}, "gpu3": {}}))
    logs = {}
    for host, lines in {"gpu1": ["NVRM: Xid (0000:03:00): 62, Channel 00000001"],
                        "gpu2": ["[Thu Jul  4 11:09:40 2024] NVRM: Xid (PCI:0000:10:1c): 48, "
                                 "pid=1896, DBE"],
                        "gpu3": ["kernel: nothing to see"]}.items():
        logs[host] = tmp_path / f"{host}.log"
        logs[host].write_text("\n".join(lines) + "\n")
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "ansible_host": "127.0.0.1",
              "kube_api_kubectl": str(FAKE_KUBECTL), "kube_api_kubeconfig": str(kube / "config")}
    hosts = {"master1": {**common, "ansible_host": "127.0.0.10"}}
    for number, host in enumerate(("gpu1", "gpu2", "gpu3"), start=11):
        hosts[host] = {**common, "ansible_host": f"127.0.0.{number}", "accelerator": "nvidia",
                       "gpu_heal_log_command": f"cat {logs[host]}"}
    root = write_inventory(tmp_path / "inv", "heal", hosts)
    inventory = yaml.safe_load((root / "hosts.yml").read_text())
    inventory["all"]["children"]["cluster"]["children"]["gpu"] = {
        "hosts": {h: None for h in ("gpu1", "gpu2", "gpu3")}}
    (root / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (root / "xid-policy.yml").write_text(yaml.safe_dump({"max_unavailable": 1, "rules": [
        {"name": "global", "priority": 0, "actions": [{"name": "notify", "message": "look"}]},
        {"name": "demo", "priority": 20, "error_codes": [62],
         "node_selector": {"operator": "any", "labels": {"app": "demo"}},
         "actions": ["cordon", {"name": "drain", "wait": "1m"}]},
        {"name": "dbe", "priority": 10, "error_codes": [48], "actions": ["cordon"]}]}))
    env = {"KUBEMEDIC_INVENTORY_DIR": str(tmp_path / "inv"),
           "KUBEMEDIC_STATE_DIR": str(tmp_path / "state")}
    return env, kube, root


def _calls(kube: Path) -> list[str]:
    log = kube / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _summary(env: dict, verb: str) -> dict:
    runs = sorted((Path(env["KUBEMEDIC_STATE_DIR"]) / "runs" / "heal").glob(f"*-{verb}"))
    return json.loads((runs[-1] / "summary.json").read_text())


def test_dry_run_decides_records_and_changes_nothing(cluster) -> None:
    env, kube, _root = cluster
    before = (kube / "nodes.json").read_text()
    result = run_kubemedic("heal", "-c", "heal", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert (kube / "nodes.json").read_text() == before
    assert all(c.startswith("get ") for c in _calls(kube)), _calls(kube)  # read-only kubectl
    heal = _summary(env, "heal-scan")["extra"]["heal"]
    assert heal["dry_run"] is True
    by_node = {d["node"]: d for d in heal["decisions"]}
    assert by_node["gpu1"]["rule"] == "demo" and by_node["gpu1"]["status"] == "planned"
    assert by_node["gpu2"]["status"] == "deferred"  # max_unavailable 1: gpu1 took the slot
    assert "gpu3" not in by_node
    assert heal["findings"]["gpu2"]["events"][0]["pci"] == "0000:10:1c"


def test_heal_runs_the_plan_through_the_playbook(cluster) -> None:
    env, kube, _root = cluster
    result = run_kubemedic("heal", "-c", "heal", "--yes", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    acting = [c for c in _calls(kube) if not c.startswith("get ")]
    assert acting == ["cordon gpu1", "drain gpu1 --ignore-daemonsets --delete-emptydir-data "
                                     "--force --timeout=60s"]
    nodes = json.loads((kube / "nodes.json").read_text())
    assert nodes["gpu1"]["unschedulable"] and not nodes["gpu2"].get("unschedulable")
    act = _summary(env, "heal")
    assert act["extra"]["heal"]["plan"][0]["host"] == "gpu1"
    assert act["hosts"]["gpu1"]["changed"] >= 2
    # next run: gpu1 is already out, gpu2 still deferred (budget used by gpu1)
    again = run_kubemedic("heal", "-c", "heal", "--yes", "--dry-run", env=env)
    assert again.returncode == 0
    statuses = {d["node"]: d["status"] for d in _summary(env, "heal-scan")["extra"]["heal"]["decisions"]}
    assert statuses == {"gpu1": "already-out", "gpu2": "deferred"}


def test_invalid_policy_exits_2_before_any_host(cluster, tmp_path: Path) -> None:
    env, kube, root = cluster
    (root / "xid-policy.yml").write_text("rules:\n  - priority: 5\n    error_codes: [62]\n"
                                         "    actions: [{name: reboot, wait: soon}]\n")
    result = run_kubemedic("heal", "-c", "heal", env=env)
    assert result.returncode == 2
    assert f"{root / 'xid-policy.yml'}: rules[0].actions[0].wait" in result.stderr
    assert _calls(kube) == []
    assert not (Path(env["KUBEMEDIC_STATE_DIR"]) / "runs").exists()
