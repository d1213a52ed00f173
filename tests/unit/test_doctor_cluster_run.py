"""`kubemedic doctor` reads the cluster once, from the first master, for every node: real
ansible-runner runs with local connections through playbooks/doctor.yml and roles/doctor.

TEST DOUBLE: kubectl is tests/doubles/fake-kubectl (records every call; node conditions from
nodes.json, pods/events from the recorded tests/data/kubectl/*.json, next to its kubeconfig).
The per-node probe runs for real on this machine (its own findings are not looked at here).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_kubemedic
from tests.unit.test_cli import write_inventory

FAKE_KUBECTL = REPO / "tests" / "doubles" / "fake-kubectl"
DATA = REPO / "tests" / "data" / "kubectl"


def _recent(listing: dict, field: str) -> dict:
    """Recorded events, re-dated to a few minutes ago (doctor reads the last 120 minutes)."""
    stamp = datetime.fromtimestamp(time.time() - 300, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in listing["items"]:
        if item["involvedObject"]["name"] != "minio-0":  # stays history
            item[field] = stamp
    return listing


@pytest.fixture()
def cluster(tmp_path: Path):
    kube = tmp_path / "kube"
    kube.mkdir()
    (kube / "config").write_text("apiVersion: v1\nkind: Config\n")
    recorded = json.loads((DATA / "nodes.json").read_text())
    (kube / "nodes.json").write_text(json.dumps({
        node["metadata"]["name"]: {"conditions": node["status"]["conditions"]}
        for node in recorded["items"]}))
    shutil.copy(DATA / "pods.json", kube / "pods.json")
    events = _recent(json.loads((DATA / "events.json").read_text()), "lastTimestamp")
    (kube / "events.json").write_text(json.dumps(events))
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "kube_api_kubectl": str(FAKE_KUBECTL), "kube_api_kubeconfig": str(kube / "config")}
    hosts = {name: {**common, "ansible_host": f"127.0.0.{n}"}
             for n, name in enumerate(("master1", "worknode1", "worknode2"), start=10)}
    write_inventory(tmp_path / "inv", "kc", hosts)
    env = {"KUBEMEDIC_INVENTORY_DIR": str(tmp_path / "inv"),
           "KUBEMEDIC_STATE_DIR": str(tmp_path / "state")}
    return env, kube


def _doctor(env: dict, *args: str) -> dict:
    result = run_kubemedic("doctor", "-c", "kc", "--json", *args, env=env)
    assert result.returncode in (0, 5), result.stderr[-3000:] + result.stdout[-3000:]
    return json.loads(result.stdout)


def _cluster_findings(answer: dict) -> dict[tuple[str, str], dict]:
    kinds = ("node-", "pod", "event:", "kubernetes-api", "kubeadm-certs")
    return {(f["host"], f["check"]): f for f in answer["findings"]
            if f["check"].startswith(kinds)}


def test_doctor_reads_the_cluster_once_from_the_first_master_for_every_node(cluster) -> None:
    """Limited to the workers: master1 is not in the play, kubectl still runs there, once."""
    env, kube = cluster
    answer = _doctor(env, "--limit", "worknode1,worknode2")
    assert answer["hosts"] == ["worknode1", "worknode2"]
    found = _cluster_findings(answer)
    assert found[("worknode2", "node-ready")]["step"] == "after-reboot"
    assert found[("worknode2", "event:pause-sandbox-image")]["command"] == (
        "kubemedic recover pause-image -c kc --limit worknode2")
    assert found[("worknode1", "event:liveness-probe-timeout")]["command"] == (
        "kubemedic recover probe-timeout -c kc --limit master1 -e "
        "kube_api_probe_namespace=rook-ceph -e kube_api_probe_deployment=rook-ceph-rgw-my-store-a")
    assert ("worknode1", "node-disk-pressure") in found
    assert not [host for host, _check in found if host == "master1"]
    calls = (kube / "calls.log").read_text().splitlines()
    assert calls == ["get nodes -o json", "get pods -A -o json",
                     "get events -A --field-selector type=Warning -o json"]  # once, read-only


def test_without_a_kubeconfig_nothing_is_read_or_reported(cluster) -> None:
    env, kube = cluster
    (kube / "config").unlink()
    answer = _doctor(env)
    assert not [k for k in _cluster_findings(answer) if k[1] != "kubernetes-api"]
    assert not (kube / "calls.log").exists()


def test_a_gpu_node_without_devices_names_the_plugin_restart_that_deletes_its_pod(cluster) -> None:
    """worknode1 in group gpu lists nvidia.com/gpu with 0 devices: doctor names
    `recover device-plugin-restart` for it, and that command, run as printed, deletes the node's
    device plugin pod through kubectl on the first master (its DaemonSet starts a fresh one)."""
    env, kube = cluster
    inventory = Path(env["KUBEMEDIC_INVENTORY_DIR"]) / "kc" / "hosts.yml"
    hosts = yaml.safe_load(inventory.read_text())
    children = hosts["all"]["children"]["cluster"]["children"]
    children["gpu"] = {"hosts": {"worknode1": None}}
    children["workers"]["hosts"]["worknode1"]["accelerator"] = "nvidia"
    inventory.write_text(yaml.safe_dump(hosts))
    nodes = json.loads((kube / "nodes.json").read_text())
    nodes["worknode1"]["capacity"] = {"cpu": "16", "nvidia.com/gpu": "0"}
    nodes["worknode1"]["allocatable"] = {"cpu": "16", "nvidia.com/gpu": "0"}
    nodes["worknode2"]["capacity"] = {"cpu": "16", "nvidia.com/gpu": "0"}   # not in group gpu
    (kube / "nodes.json").write_text(json.dumps(nodes))
    answer = _doctor(env, "--limit", "worknode1,worknode2")
    named = [f for f in answer["findings"] if f["check"] == "device-plugin-devices"]
    assert [(f["host"], f["evidence"], f["step"]) for f in named] == [
        ("worknode1", "nvidia.com/gpu: capacity 0, allocatable 0", "device-plugin-restart")]
    command = named[0]["command"]
    assert command == "kubemedic recover device-plugin-restart -c kc --limit worknode1"
    (kube / "calls.log").unlink()
    repair = run_kubemedic(*command.split()[1:], "--yes", "--json", env=env)
    assert repair.returncode == 0, repair.stderr[-3000:] + repair.stdout[-3000:]
    calls = (kube / "calls.log").read_text().splitlines()
    assert ("-n kube-system delete pod -l name=nvidia-device-plugin-ds --field-selector "
            "spec.nodeName=worknode1 --wait=false") in calls, calls
