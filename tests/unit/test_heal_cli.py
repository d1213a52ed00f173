"""`kubemedic heal` end to end on this machine: real ansible-runner runs with local connections.

TEST DOUBLES: kubectl is tests/doubles/fake-kubectl (records every call, keeps node state in a
JSON file next to its kubeconfig); the kernel log is a file per host fed with real Xid lines in
the seed 003 / driver format and a real RmInitAdapter line (corpus heal-ogkm-1230) (never
/dev/kmsg: it is shared with the host); nvidia-smi is `cat` of a file per host in `nvidia-smi -q`'s
layout (no GPU here).
"""

from __future__ import annotations

import json
import os
import subprocess
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
    logs, smi = {}, {}
    for host, lines in {"gpu1": ["NVRM: Xid (0000:03:00): 62, Channel 00000001"],
                        "gpu2": ["[Thu Jul  4 11:09:40 2024] NVRM: Xid (PCI:0000:10:1c): 48, "
                                 "pid=1896, DBE"],
                        # GPU faults without an Xid line: a failed init in the kernel log, a
                        # pending row remap in nvidia-smi
                        "gpu3": ["kernel: nothing to see",
                                 "[  101.209077] NVRM: GPU 0000:a1:00.0: RmInitAdapter failed! "
                                 "(0x62:0x40:2168)"]}.items():
        logs[host] = tmp_path / f"{host}.log"
        logs[host].write_text("\n".join(lines) + "\n")
        smi[host] = tmp_path / f"{host}.smi"
        smi[host].write_text("" if host != "gpu3" else
                             "GPU 00000000:07:00.0\n    Remapped Rows\n        Pending"
                             "                           : Yes\n")
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "ansible_host": "127.0.0.1",
              "kube_api_kubectl": str(FAKE_KUBECTL), "kube_api_kubeconfig": str(kube / "config")}
    hosts = {"master1": {**common, "ansible_host": "127.0.0.10"}}
    for number, host in enumerate(("gpu1", "gpu2", "gpu3"), start=11):
        hosts[host] = {**common, "ansible_host": f"127.0.0.{number}", "accelerator": "nvidia",
                       "gpu_heal_log_command": f"cat {logs[host]}",
                       "gpu_heal_smi_command": f"cat {smi[host]}"}
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
        {"name": "dbe", "priority": 10, "error_codes": [48], "actions": ["cordon"]},
        {"name": "remap", "priority": 15, "error_codes": ["row-remap-pending"],
         "actions": ["cordon"]}]}))
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
    heal = _summary(env, "heal")["extra"]["heal"]
    assert heal["dry_run"] is True
    by_node = {d["node"]: d for d in heal["decisions"]}
    assert by_node["gpu1"]["rule"] == "demo" and by_node["gpu1"]["status"] == "planned"
    assert by_node["gpu2"]["status"] == "deferred"  # max_unavailable 1: gpu1 took the slot
    # no Xid line: the kernel's failed init and nvidia-smi's pending remap, by the remap rule
    assert (by_node["gpu3"]["codes"], by_node["gpu3"]["rule"], by_node["gpu3"]["status"]) == (
        ["gpu-init-failed", "row-remap-pending"], "remap", "deferred")
    assert heal["findings"]["gpu2"]["events"][0]["pci"] == "0000:10:1c"
    assert [e["pci"] for e in heal["findings"]["gpu3"]["events"]] == ["0000:a1:00.0",
                                                                     "00000000:07:00.0"]


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
    statuses = {d["node"]: d["status"] for d in _summary(env, "heal")["extra"]["heal"]["decisions"]}
    assert statuses == {"gpu1": "already-out", "gpu2": "deferred", "gpu3": "deferred"}


def test_invalid_policy_exits_2_before_any_host(cluster, tmp_path: Path) -> None:
    env, kube, root = cluster
    (root / "xid-policy.yml").write_text("rules:\n  - priority: 5\n    error_codes: [62]\n"
                                         "    actions: [{name: reboot, wait: soon}]\n")
    result = run_kubemedic("heal", "-c", "heal", env=env)
    assert result.returncode == 2
    assert f"{root / 'xid-policy.yml'}: rules[0].actions[0].wait" in result.stderr
    assert _calls(kube) == []
    assert not (Path(env["KUBEMEDIC_STATE_DIR"]) / "runs").exists()


def _playbook(root: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """Plain ansible-playbook, no kubemedic CLI (as AWX runs it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the plugin finds cli/
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                           str(root / "hosts.yml"), str(REPO / "playbooks" / "heal.yml"),
                           "-e", f"gpu_heal_record_file={tmp_path / 'decisions.json'}", *extra],
                          capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
                          timeout=300)


def test_plain_ansible_playbook_decides_and_heals_by_policy(cluster, tmp_path: Path) -> None:
    """Issue 17: heal.yml heals on its own (policy from the inventory's xid-policy.yml)."""
    _env, kube, root = cluster
    dry = _playbook(root, tmp_path, "-e", "gpu_heal_dry_run=true")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-2000:]
    assert all(c.startswith("get ") for c in _calls(kube)), _calls(kube)
    record = json.loads((tmp_path / "decisions.json").read_text())
    assert record["policy"] == str(root / "xid-policy.yml") and record["act"] == []
    assert record["plan"][0]["node"] == "gpu1"
    healed = _playbook(root, tmp_path, "-e", "kubemedic_confirmed=true")
    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-2000:]
    acting = [c for c in _calls(kube) if not c.startswith("get ")]
    assert acting == ["cordon gpu1", "drain gpu1 --ignore-daemonsets --delete-emptydir-data "
                                     "--force --timeout=60s"]
    statuses = {d["node"]: d["status"] for d in
                json.loads((tmp_path / "decisions.json").read_text())["decisions"]}
    assert statuses == {"gpu1": "planned", "gpu2": "deferred", "gpu3": "deferred"}


def test_plain_ansible_playbook_invalid_policy_names_file_and_field(cluster, tmp_path) -> None:
    _env, kube, root = cluster
    bad = tmp_path / "bad-policy.yml"
    bad.write_text("rules:\n  - priority: 5\n    error_codes: [62]\n    actions: [explode]\n")
    result = _playbook(root, tmp_path, "-e", f"gpu_heal_policy_file={bad}",
                       "-e", "kubemedic_confirmed=true")
    assert result.returncode != 0
    assert f"{bad}: rules[0].actions[0].name: 'explode' is not an action" in result.stdout
    assert [c for c in _calls(kube) if not c.startswith("get ")] == []


def test_without_yes_or_terminal_heal_dry_runs_then_exits_2(cluster) -> None:
    env, kube, _root = cluster
    result = run_kubemedic("heal", "-c", "heal", env=env)
    assert result.returncode == 2, result.stderr
    assert "heal: drain/reboot gpu1 is destructive and needs confirmation" in result.stderr
    assert all(c.startswith("get ") for c in _calls(kube)), _calls(kube)
    preview = _summary(env, "heal")["extra"]["heal"]
    assert preview["dry_run"] is True and preview["plan"][0]["node"] == "gpu1"


def test_filter_plugin_needs_neither_click_nor_an_installed_kubemedic(tmp_path: Path) -> None:
    """AWX/plain Ansible: the plugin imports the checkout's cli/kubemedic/heal without click."""
    script = tmp_path / "probe.py"
    plugin = REPO / "plugins" / "filter" / "kubemedic_heal.py"
    script.write_text(
        "import importlib.util, json, sys\n"
        "sys.modules['click'] = None  # importing click now fails\n"
        f"spec = importlib.util.spec_from_file_location('f', {str(plugin)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "scan = {'hosts': {'g1': ['NVRM: Xid (0000:03:00): 79, off the bus']}, 'nodes': {}}\n"
        "out = mod.FilterModule().filters()['kubemedic_heal_plan'](scan, '', '', 'true')\n"
        "print(json.dumps([out['policy'], out['decisions'][0]['rule'], out['act'],\n"
        "                  sys.modules['kubemedic'].__file__]))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    source, rule, act, where = json.loads(result.stdout)
    assert (source, rule, act) == ("<default xid policy>", "xid-reboot", [])
    assert where == str(REPO / "cli" / "kubemedic" / "__init__.py")
