"""`kubemedic lab` refuses bad input with exit 2 before touching podman."""

from __future__ import annotations

import pytest

from kubemedic.errors import KubemedicUsageError
from kubemedic.lab import lab as lab_mod
from tests.conftest import REPO, run_kubemedic


@pytest.mark.parametrize("args, message", [
    (["--name", "Lab"], "lab name 'Lab' is invalid"),
    (["--name", "lab", "--subnet", "8.8.8.0/24"], "private IPv4"),
    (["--name", "lab", "--subnet", "192.168.1.7/24"], "host bits set"),
    (["--name", "lab", "--nodes", "0"], "--nodes 0"),
    (["--name", "lab", "--outside", "9"], "--outside 9"),
])
def test_lab_up_rejects_bad_input(args, message) -> None:
    result = run_kubemedic("lab", "up", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_outside_network_is_the_next_one() -> None:
    cluster, outside = lab_mod.networks_for("192.168.232.0/24")
    assert str(cluster) == "192.168.232.0/24" and str(outside) == "192.168.233.0/24"
    with pytest.raises(KubemedicUsageError):
        lab_mod.networks_for("10.0.0.0/30")


def test_lab_labels_carry_the_run_id_when_set() -> None:
    assert lab_mod.labels("lab", env={}) == ["--label", "kubemedic.lab=lab"]
    assert lab_mod.labels("lab", env={lab_mod.RUN_ENV: "ci-20261201-42"}) == [
        "--label", "kubemedic.lab=lab", "--label", f"{lab_mod.RUN_LABEL}=ci-20261201-42"]
    with pytest.raises(KubemedicUsageError, match=lab_mod.RUN_ENV):
        lab_mod.labels("lab", env={lab_mod.RUN_ENV: "a b;rm"})


def test_ci_cleanup_removes_only_its_own_run() -> None:
    """Issue 17: .ci/run's cleanup removed every kubemedic lab on the machine."""
    script = (REPO / ".ci" / "run").read_text()
    assert f"export {lab_mod.RUN_ENV}" in script
    filters = [line for line in script.splitlines() if "podman" in line and "--filter" in line]
    assert len(filters) == 2, filters  # containers and networks
    for line in filters:
        assert f'--filter "label={lab_mod.RUN_LABEL}=${lab_mod.RUN_ENV}"' in line, line


def test_lab_inventory_passes_the_schema_with_its_storage_settings(tmp_path) -> None:
    from kubemedic.inventory.loader import load_and_validate

    info = lab_mod.LabInfo(name="k8s-unit", subnet="192.168.246.0/24",
                           outside_subnet="192.168.247.0/24", gateway="192.168.246.1",
                           image="img", inventory=str(tmp_path / "k8s-unit"), ssh_config="cfg",
                           key=str(tmp_path / "key"),
                           nodes=[lab_mod.LabNode("k8s-unit-node1", "192.168.246.11",
                                                  "k8s-unit-cluster", "cluster")])
    lab_mod._write_inventory(tmp_path / "k8s-unit", info)
    _root, data = load_and_validate("k8s-unit", str(tmp_path))
    settings = data.cluster_vars()
    assert settings["cluster_docker_storage_driver"] == "vfs"
    assert settings["cluster_containerd_snapshotter"] == "native"


@pytest.mark.parametrize("autofs", [True, False])
def test_lab_inventory_declares_nfs_mounts_only_where_the_kernel_can_automount(
        tmp_path, monkeypatch, autofs) -> None:
    """On a VM kernel without autofs (and no NFS client), a declared mount could only ever be
    reported missing by doctor: the lab declares none there."""
    from kubemedic.inventory.loader import load_and_validate

    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n"
                           + ("nodev\tautofs\n" if autofs else ""))
    assert lab_mod.kernel_has_filesystem("autofs", filesystems) is autofs
    assert lab_mod.kernel_has_filesystem("autofs", tmp_path / "absent") is False
    monkeypatch.setattr(lab_mod, "kernel_has_filesystem", lambda name: autofs)
    info = lab_mod.LabInfo(name="nfs-unit", subnet="192.168.246.0/24",
                           outside_subnet="192.168.247.0/24", gateway="192.168.246.1",
                           image="img", inventory=str(tmp_path / "nfs-unit"), ssh_config="cfg",
                           key=str(tmp_path / "key"),
                           nodes=[lab_mod.LabNode("nfs-unit-node1", "192.168.246.11",
                                                  "nfs-unit-cluster", "cluster")])
    lab_mod._write_inventory(tmp_path / "nfs-unit", info)
    _root, data = load_and_validate("nfs-unit", str(tmp_path))
    settings = data.cluster_vars()
    if autofs:
        assert "nfs_client_mounts" not in settings
    else:
        assert settings["nfs_client_mounts"] == []


def test_leaky_controllers_are_the_mounted_v1_ones(tmp_path, monkeypatch) -> None:
    cgroups = tmp_path / "cgroups"
    cgroups.write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t9\t1\n"
                       "net_cls\t0\t9\t1\nnet_prio\t0\t9\t1\nperf_event\t5\t9\t1\n"
                       "hugetlb\t0\t9\t1\n")
    assert lab_mod.mounted_v1_controllers(cgroups) == {"cpu", "perf_event"}
    assert lab_mod.mounted_v1_controllers(tmp_path / "absent") == set()
    monkeypatch.setattr(lab_mod, "mounted_v1_controllers", lambda: {"net_cls", "net_prio",
                                                                    "hugetlb"})
    assert lab_mod.leaky_controllers() == ["net_cls,net_prio", "hugetlb"]


def test_nested_cgroup_lines_from_a_node_are_filtered(monkeypatch) -> None:
    import subprocess

    out = ("hugetlb /system.slice/docker-ab12.scope\nperf_event /kmtest/x\n"
           "memory /not-a-leaky-controller\nhugetlb ../../etc\nhugetlb /a/../b\n"
           "net_cls,net_prio /docker/cd34\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, out, ""))
    assert lab_mod.nested_cgroups("k8s-unit-node1") == [
        ("hugetlb", "/system.slice/docker-ab12.scope"), ("perf_event", "/kmtest/x"),
        ("net_cls,net_prio", "/docker/cd34")]
