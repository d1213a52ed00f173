"""Kubernetes lifecycle against kubeadm 1.28's config API, which no real kubeadm in the lab can
read: init refused while an image is missing (with `kubeadm config validate`, kubeadm >= 1.26),
init from local images with a v1beta3 config then join, after-reboot on the master.

One lab (km-kube, 3 nodes) for the module; tests run in file order like an operator's session.

Why a double here: only Kubernetes 1.20 builds from Debian's source in the lab (docs/lab.md), so
the v1beta3/v1beta4 config shapes, `config validate` and the 1.28 image list cannot meet a real
kubeadm. What a real kubeadm 1.20 proves is in tests/integration/test_kubernetes_lifecycle_real.py
(reset --reinit refused with nothing reset, then re-init from local images with backups first,
node add/remove, the kube-reset and master-ip-change drills) and test_kubernetes_real.py
(bootstrap, second bootstrap changed=0, the after-reboot drill on a worker): those tests left
this module. after-reboot on a master (swap, `mount -a`, the API wait) stays here until a real
drill covers the master.

Real here: systemd, sshd, apt, docker.io (images created with `docker import`, so "present
locally" is real), mounts, fstab, the dev-box side (fetches, run records).
TEST DOUBLE (tests/doubles/kube_lifecycle_double.py, installed on the nodes by this test):
kubeadm, kubectl and kubelet. The double validates every kubeadm config it is given (unknown
fields, missing imageRepository, version format, v1beta3/v1beta4 shapes), refuses init while an
image is missing or a cluster is still there, and logs every call. The roles skip package
installation honestly with kubernetes_node_install_packages: false, set in the lab inventory by
this test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "tests" / "doubles" / "kube_lifecycle_double.py"
NAME = "km-kube"
SUBNET = "192.168.238.0/24"
N1, N2, N3 = (f"{NAME}-node{i}" for i in (1, 2, 3))
REGISTRY = "192.168.238.11:5000"
IMAGES = [f"{REGISTRY}/{name}:v1.28.2" for name in
          ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")] + [
    f"{REGISTRY}/coredns/coredns:v1.10.1", f"{REGISTRY}/pause:3.9", f"{REGISTRY}/etcd:3.5.9-0"]
MISSING = f"{REGISTRY}/kube-proxy:v1.28.2"
LOG = "/var/log/kube-double/calls.jsonl"
KUBELET_UNIT = """[Unit]
Description=kubelet (kubemedic test double)
[Service]
ExecStart=/usr/local/bin/kubelet-double
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
"""
CNI = """apiVersion: v1
kind: ConfigMap
metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
data: {net-conf.json: '{"Network": "10.244.0.0/16"}'}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-flannel-ds, namespace: kube-flannel}
"""


@pytest.fixture(scope="module")
def lab(lab_factory, tmp_path_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=0)
    work = tmp_path_factory.mktemp("kube")
    (work / "cni.yaml").write_text(CNI)
    settings = {"kubernetes_node_install_packages": False,
                "kubernetes_control_plane_cni_manifest": str(work / "cni.yaml")}
    group_vars = lab.inventory / "group_vars" / "all.yml"
    data = yaml.safe_load(group_vars.read_text())
    data.update(settings)
    group_vars.write_text(yaml.safe_dump(data, sort_keys=False))
    if lab.ssh(N1, "test -f /root/.km-kube-ready").returncode == 0:
        return lab  # KUBEMEDIC_KEEP_LAB=1 re-run: nodes already prepared
    # Only node1 needs packages (docker.io for "present locally"); the others get PyYAML (pure
    # Python) for the double copied from this environment.
    apt = subprocess.Popen(
        ["ssh", "-F", str(lab.ssh_config), N1,
         "mkdir -p /etc/docker && echo '{\"storage-driver\": \"vfs\"}' > /etc/docker/daemon.json"
         " && export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && apt-get install -y -qq"
         " --no-install-recommends python3-yaml docker.io"
         " >/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for node in (N1, N2, N3):
        copy(lab, node, DOUBLE, "/usr/local/lib/kube_lifecycle_double.py")
        if node != N1:
            copy(lab, node, Path(yaml.__file__).parent, "/usr/lib/python3/dist-packages/")
        lab.ssh(node, "chmod 755 /usr/local/lib/kube_lifecycle_double.py && "
                      "ln -sf /usr/local/lib/kube_lifecycle_double.py /usr/bin/kubeadm && "
                      "ln -sf /usr/local/lib/kube_lifecycle_double.py /usr/bin/kubectl && "
                      "ln -sf /usr/local/lib/kube_lifecycle_double.py /usr/local/bin/kubelet-double && "
                      f"printf '%s' '{KUBELET_UNIT}' > /etc/systemd/system/kubelet.service && "
                      "systemctl daemon-reload && "
                      "echo '/swapfile none swap sw 0 0' >> /etc/fstab", check=True)
    output, _ = apt.communicate(timeout=600)
    assert apt.returncode == 0, output
    lab.ssh(N1, "tar -cf /tmp/empty.tar --files-from /dev/null && "
                + " && ".join(f"docker import /tmp/empty.tar {ref} >/dev/null"
                              for ref in IMAGES if ref != MISSING)
                + " && touch /root/.km-kube-ready", check=True)
    return lab


def copy(lab, node: str, src: Path, dest: str) -> None:
    subprocess.run(["scp", "-q", "-r", "-F", str(lab.ssh_config), str(src), f"{node}:{dest}"],
                   check=True, timeout=60)


def km(lab, *args: str):
    return lab.kubemedic(*args, "-c", NAME, "--json")


def summary(result) -> dict:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def calls(lab, node: str) -> list[dict]:
    out = lab.ssh(node, f"cat {LOG} 2>/dev/null").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


BOOT = ("bootstrap", "--tags", "kubernetes-node,kubernetes-control-plane,kubernetes-join",
        "--limit", f"{N1},{N2}")


def test_init_refused_while_an_image_is_missing(lab):
    result = km(lab, *BOOT)
    assert result.returncode == 3, result.stderr
    assert MISSING in result.stdout and "kubeadm init not started" in result.stdout
    log = calls(lab, N1)
    assert any(c["argv"][:2] == ["config", "validate"] for c in log)
    assert any(c["argv"][:3] == ["config", "images", "list"] for c in log)
    assert not [c for c in log if c["argv"][:1] == ["init"]], "init ran with an image missing"


def test_init_from_local_images_then_join(lab):
    lab.ssh(N1, f"docker import /tmp/empty.tar {MISSING}", check=True)
    result = km(lab, *BOOT)
    assert result.returncode == 0, result.stderr
    config = lab.ssh(N1, "cat /etc/kubernetes/kubeadm-config.yaml", check=True).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(config) if d}
    assert docs["ClusterConfiguration"]["imageRepository"] == REGISTRY
    assert docs["ClusterConfiguration"]["kubernetesVersion"] == "v1.28.2"
    assert docs["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "192.168.238.11"
    driver = lab.ssh(N1, "docker info --format '{{.CgroupDriver}}'", check=True).stdout.strip()
    assert docs["KubeletConfiguration"]["cgroupDriver"] == driver
    log1 = calls(lab, N1)
    assert [c["event"] for c in log1 if c["event"] in ("init-done", "applied")] == \
        ["init-done", "applied"]
    assert [c for c in calls(lab, N2) if c["event"] == "join-done"]
    nodes = lab.ssh(N1, "kubectl get nodes", check=True).stdout.split()
    assert nodes == sorted([N1, N2])
    state = Path(summary(result)["record"]).parents[2]
    assert (state / "kubeconfigs" / NAME / "admin.conf").read_text().startswith("apiVersion: v1")
    host = lab.host(N2)
    assert host.file("/etc/sysctl.d/90-kubernetes.conf").contains("net.ipv4.ip_forward = 1")
    assert host.file("/etc/modules-load.d/kubernetes.conf").contains("br_netfilter")
    assert host.file("/etc/fstab").contains("^# /swapfile none swap")
    assert not host.file("/etc/kubernetes/kubeadm-join.yaml").exists  # held a token


def test_after_reboot_restarts_kubelet_remounts_and_waits_for_the_api(lab):
    lab.ssh(N1, "systemctl stop kubelet && mkdir -p /share && "
                "echo 'tmpfs /share tmpfs defaults 0 0' >> /etc/fstab", check=True)
    assert lab.ssh(N1, "kubectl get nodes").returncode != 0  # API down, as after a power loss
    result = km(lab, "recover", "after-reboot")
    assert result.returncode == 0, result.stderr
    assert lab.host(N1).mount_point("/share").exists
    assert lab.host(N1).service("kubelet").is_running
    assert lab.ssh(N1, "kubectl get nodes").returncode == 0
