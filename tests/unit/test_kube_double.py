"""The kubeadm test double (tests/doubles/kube_lifecycle_double.py) must be strict, or the lab
tests that rely on it could not fail: unknown fields, a missing imageRepository, a version not
like v1.28.2 and wrong v1beta3/v1beta4 shapes are refused; images follow the config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOUBLE = Path(__file__).resolve().parents[1] / "doubles" / "kube_lifecycle_double.py"

GOOD = [
    {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "InitConfiguration",
     "localAPIEndpoint": {"advertiseAddress": "192.168.238.11", "bindPort": 6443},
     "nodeRegistration": {"name": "m1", "criSocket": "unix:///var/run/cri-dockerd.sock",
                          "imagePullPolicy": "IfNotPresent",
                          "kubeletExtraArgs": {"node-ip": "192.168.238.11"}}},
    {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "ClusterConfiguration",
     "kubernetesVersion": "v1.28.2", "imageRepository": "192.168.238.11:5000",
     "controlPlaneEndpoint": "192.168.238.11:6443",
     "dns": {"imageRepository": "192.168.238.11:5000/coredns"},
     "networking": {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}},
    {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
     "cgroupDriver": "systemd"},
]


def run(tmp_path: Path, docs: list[dict], *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "kubeadm.yaml"
    config.write_text(yaml.safe_dump_all(docs))
    env = {**os.environ, "KUBE_DOUBLE_LOG": str(tmp_path / "calls.jsonl")}
    return subprocess.run([sys.executable, str(DOUBLE), "kubeadm", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, check=False)


def test_good_config_validates_and_lists_private_images(tmp_path: Path) -> None:
    assert run(tmp_path, GOOD, "config", "validate").returncode == 0
    listed = run(tmp_path, GOOD, "config", "images", "list")
    assert listed.returncode == 0, listed.stderr
    images = listed.stdout.split()
    assert "192.168.238.11:5000/kube-apiserver:v1.28.2" in images
    assert "192.168.238.11:5000/coredns/coredns:v1.10.1" in images
    assert "192.168.238.11:5000/pause:3.9" in images
    assert all(i.startswith("192.168.238.11:5000/") for i in images)
    assert (tmp_path / "calls.jsonl").read_text().count('"tool": "kubeadm"') == 2


def _mutate(index: int, path: list[str], value) -> list[dict]:
    docs = yaml.safe_load(yaml.safe_dump(GOOD))
    target = docs[index]
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return docs


@pytest.mark.parametrize(("docs", "message"), [
    (_mutate(1, ["imageRepository"], KeyError), "imageRepository missing"),
    (_mutate(1, ["kubernetesVersion"], "1.28.2"), "not like v1.28.2"),
    (_mutate(1, ["imageRepositry"], "x"), "unknown field"),
    (_mutate(0, ["nodeRegistration", "kubeletExtraArgs"], [{"name": "a", "value": "b"}]),
     "v1beta3 wants a string map"),
    (_mutate(0, ["localAPIEndpoint", "advertiseAddress"], "master1"), "not an IP"),
    (_mutate(1, ["networking", "podSubnet"], "10.244.0.1/16"), "not a CIDR"),
    (_mutate(2, ["cgroupDriver"], "system"), "cgroupDriver"),
    (_mutate(1, ["apiVersion"], "kubeadm.k8s.io/v1beta2"), "apiVersion"),
])
def test_bad_configs_are_refused(tmp_path: Path, docs: list[dict], message: str) -> None:
    result = run(tmp_path, docs, "config", "validate")
    assert result.returncode == 1
    assert message in result.stderr


def test_api_keeps_every_node_when_joins_arrive_together(tmp_path: Path, monkeypatch) -> None:
    """Two nodes join in the same Ansible task, so their PUTs reach the double's API at once.
    Before the lock, writers shared one temporary file: a join got a closed connection
    ('Remote end closed connection without response', seen in CI) or was lost."""
    import importlib.util
    import json
    import threading

    monkeypatch.setenv("KUBE_DOUBLE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("KUBE_DOUBLE_LOG", str(tmp_path / "calls.jsonl"))
    spec = importlib.util.spec_from_file_location("kube_double_under_test", DOUBLE)
    double = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(double)

    class Server(double.ThreadingHTTPServer):
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), double.ApiHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    errors: list[str] = []

    def join(name: str) -> None:
        try:
            double.api("PUT", f"http://127.0.0.1:{server.server_address[1]}", f"/nodes/{name}",
                       {"self": True})
        except double.Refused as exc:
            errors.append(str(exc))

    try:
        for wave in range(4):
            threads = [threading.Thread(target=join, args=(f"n{wave}-{i}",)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
    assert len(json.loads((tmp_path / "state" / "nodes.json").read_text())) == 32
