"""Version-aware kubeadm configs (issue 15, item 3): the kubeadm config API per Kubernetes
version (v1beta2 below 1.22, v1beta3 for 1.22-1.30, v1beta4 from 1.31) is decided once
(cli/kubemedic/kubeversions.py, filter kubemedic_kubeadm_api) and used by both kubeadm templates;
the supported range is refused outside by `inventory check` (exit 2 naming the field).

The configs are rendered with ansible-core's Templar (no kubeadm binary: kubeadm newer than the
lab's real 1.20.2 cannot run here; the lab test tests/integration/test_kubernetes_real.py feeds the
1.20 rendering to the real kubeadm 1.20.2)."""

from __future__ import annotations

import pytest

from kubemedic import kubeversions
from tests.conftest import run_kubemedic
from tests.unit.test_cri_socket import inventories, problems, render_kubeadm, set_vars

__all__ = ["inventories"]  # the fixture, re-used

# version -> (API, CRI socket kubeadm is given, kubeletExtraArgs shape)
CASES = {
    "1.20.2": ("v1beta2", "/var/run/dockershim.sock", dict),
    "1.24.17": ("v1beta3", "unix:///run/containerd/containerd.sock", dict),
    "1.30.4": ("v1beta3", "unix:///run/containerd/containerd.sock", dict),
    "1.31.0": ("v1beta4", "unix:///run/containerd/containerd.sock", list),
}


def init_docs(version: str, **extra: object) -> dict[str, dict]:
    docs = render_kubeadm("kubernetes_control_plane", "kubeadm-config.yaml.j2",
                          {"cluster_kubernetes_version": version},
                          kubernetes_control_plane_advertise_address="192.168.100.11",
                          _kubernetes_control_plane_cgroup_driver="systemd", **extra)
    return {doc["kind"]: doc for doc in docs}


def join_doc(version: str) -> dict:
    return render_kubeadm("kubernetes_join", "kubeadm-join.yaml.j2",
                          {"cluster_kubernetes_version": version},
                          kubernetes_join_advertise_address="192.168.100.12",
                          _kubernetes_join_token="abcdef.0123456789abcdef",
                          _kubernetes_join_ca_hash="sha256:" + "0" * 64,
                          _kubernetes_join_certificate_key="")[0]


@pytest.mark.parametrize("version", sorted(CASES))
def test_init_config_per_version(version: str) -> None:
    api, socket, extra_args = CASES[version]
    docs = init_docs(version)
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    for kind in ("InitConfiguration", "ClusterConfiguration"):
        assert docs[kind]["apiVersion"] == f"kubeadm.k8s.io/{api}"
    registration = docs["InitConfiguration"]["nodeRegistration"]
    assert registration["criSocket"] == socket
    assert isinstance(registration["kubeletExtraArgs"], extra_args)
    # v1beta2 (kubeadm 1.20/1.21) has no imagePullPolicy: kubeadm 1.20 refuses unknown fields
    assert ("imagePullPolicy" in registration) is (api != "v1beta2")
    assert docs["ClusterConfiguration"]["kubernetesVersion"] == f"v{version}"
    assert docs["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"


@pytest.mark.parametrize("version", sorted(CASES))
def test_join_config_per_version(version: str) -> None:
    api, socket, extra_args = CASES[version]
    doc = join_doc(version)
    assert doc["apiVersion"] == f"kubeadm.k8s.io/{api}"
    assert doc["nodeRegistration"]["criSocket"] == socket
    assert isinstance(doc["nodeRegistration"]["kubeletExtraArgs"], extra_args)


def test_a_forced_api_wins() -> None:
    docs = init_docs("1.24.17", kubernetes_control_plane_config_api="v1beta2")
    assert docs["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta2"


@pytest.mark.parametrize(("version", "api"), [
    ("1.20.0", "v1beta2"), ("1.21.14", "v1beta2"), ("1.22.0", "v1beta3"), ("1.30.99", "v1beta3"),
    ("1.31.0", "v1beta4"), ("v1.34.1", "v1beta4")])
def test_api_boundaries(version: str, api: str) -> None:
    assert kubeversions.kubeadm_api(version) == api


@pytest.mark.parametrize(("version", "supported"), [
    ("1.19.16", False), ("1.20.0", True), ("1.20.2", True), ("1.34.2", True), ("1.35.0", False),
    ("2.0.0", False)])
def test_supported_range(inventories, version: str, supported: bool) -> None:
    path = set_vars(inventories, cluster_kubernetes_version=version,
                    cluster_container_runtime="containerd")
    found = [p for p in problems(inventories) if "not supported" in p]
    assert bool(found) is not supported, found
    if found:
        assert found[0].startswith(f"{path}: cluster_kubernetes_version: ")
        assert "1.20 to 1.34" in found[0]


def test_inventory_check_exits_2_on_an_unsupported_version(inventories) -> None:
    set_vars(inventories, cluster_kubernetes_version="1.18.20")
    result = run_kubemedic("inventory", "check", "acme",
                           env={"KUBEMEDIC_INVENTORY_DIR": str(inventories)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "acme/group_vars/all.yml: cluster_kubernetes_version: Kubernetes 1.18.20 is not " \
           "supported" in result.stderr
    assert "Traceback" not in result.stderr


def test_skipped_addons_leave_the_pull_check_to_the_image_check() -> None:
    """kubeadm 1.20's preflight pulls CoreDNS even with addon/coredns skipped (seen on the real
    lab): the role's own image check stands in for it, and the user's ignores are kept."""
    docs = init_docs("1.20.2", kubernetes_control_plane_skip_phases=["addon/coredns"],
                     kubernetes_control_plane_ignore_preflight_errors=["SystemVerification"])
    registration = docs["InitConfiguration"]["nodeRegistration"]
    assert registration["ignorePreflightErrors"] == ["SystemVerification", "ImagePull"]
    plain = init_docs("1.20.2")["InitConfiguration"]["nodeRegistration"]
    assert "ignorePreflightErrors" not in plain


@pytest.mark.parametrize("version", sorted(CASES))
def test_control_plane_timeout_per_api(version: str) -> None:
    docs = init_docs(version, kubernetes_control_plane_timeout_for_control_plane="15m0s")
    if CASES[version][0] == "v1beta4":
        assert docs["InitConfiguration"]["timeouts"] == {"controlPlaneComponentHealthCheck": "15m0s"}
        assert "apiServer" not in docs["ClusterConfiguration"]
    else:
        assert docs["ClusterConfiguration"]["apiServer"] == {"timeoutForControlPlane": "15m0s"}
        assert "timeouts" not in docs["InitConfiguration"]
