"""Containers run inside lab nodes (issue 15, item 1): docker and containerd on a real node.

The node runs with a private cgroup namespace (not podman's --systemd=always, which hides the
node's own name=systemd tree from runc inside it). docker.io and containerd come from the
container_runtime role (`kubemedic bootstrap --tags container-runtime`, vfs storage as the lab
inventory says); a tiny image is made from the node's own /usr/bin/true, sleep and libc (no
registry is reachable). Then: docker run, docker exec and ctr run work, systemd has no failed
unit, nested cgroups stay under the node's own cgroup on the host, and `lab down` of a node whose
nested containers still run leaves no empty cgroup dir at the top of the hierarchies the host
does not mount (net_cls,net_prio, perf_event, hugetlb).

Real: podman node with systemd and sshd, apt, docker.io 20.10, containerd 1.6, runc. No double.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

pytestmark = pytest.mark.lab

NAME = "k8s-ctr"
NODE = f"{NAME}-node1"
IMAGE = "kubemedic/tiny:1"
# Debian 12's /lib64 links to usr/lib64: the tar needs both, and the loader and libc.
TINY_IMAGE = ("tar -cf /root/tiny.tar -C / usr/bin/true usr/bin/sleep lib lib64 usr/lib64 "
              "usr/lib/x86_64-linux-gnu/libc.so.6 usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "
              f"&& docker import /root/tiny.tar {IMAGE} >/dev/null")
CTR = "ctr -n kmtest"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(NAME, nodes=1, outside=0, subnet="192.168.244.0/24")


@pytest.fixture(scope="module")
def runtime(lab):
    result = lab.kubemedic("bootstrap", "-c", lab.customer, "--tags", "container-runtime",
                           "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lab.ssh(NODE, TINY_IMAGE, check=True)
    return lab


def host_cgroup_dirs_exist(dirs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Which of (controller, path) exist in the host's hierarchies (mounted in a private mount
    namespace: the host does not mount these controllers itself)."""
    script = ('m=$(mktemp -d); while [ $# -ge 2 ]; do mkdir -p "$m/$1"; '
              'mountpoint -q "$m/$1" || mount -t cgroup -o "$1" cgroup "$m/$1"; '
              '[ -d "$m/$1$2" ] && echo "$1 $2"; shift 2; done; '
              'for d in "$m"/*; do umount "$d"; rmdir "$d"; done; rmdir "$m"')
    args = [part for item in dirs for part in item]
    out = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *args], text=True,
                         capture_output=True, check=True).stdout
    return [tuple(line.split(" ", 1)) for line in out.splitlines()]


def test_docker_uses_vfs_and_runs_and_execs(runtime) -> None:
    lab = runtime
    assert lab.ssh(NODE, "docker info -f '{{.Driver}} {{.CgroupDriver}}'",
                   check=True).stdout.split() == ["vfs", "systemd"]
    daemon = json.loads(lab.ssh(NODE, "cat /etc/docker/daemon.json", check=True).stdout)
    assert daemon["storage-driver"] == "vfs"
    lab.ssh(NODE, f"docker run --rm {IMAGE} /usr/bin/true", check=True)
    lab.ssh(NODE, f"docker run -d --name sleeper {IMAGE} /usr/bin/sleep 3600", check=True)
    lab.ssh(NODE, "docker exec sleeper /usr/bin/true", check=True)
    state = lab.ssh(NODE, "docker inspect -f '{{.State.Status}}' sleeper", check=True)
    assert state.stdout.strip() == "running"


def test_containerd_ctr_runs_with_the_native_snapshotter(runtime) -> None:
    lab = runtime
    lab.ssh(NODE, f"docker save {IMAGE} | {CTR} images import --snapshotter native -",
            check=True)
    ref = f"docker.io/{IMAGE}"
    lab.ssh(NODE, f"{CTR} run --rm --snapshotter native {ref} once /usr/bin/true", check=True)
    lab.ssh(NODE, f"{CTR} run -d --snapshotter native {ref} ctr-sleeper /usr/bin/sleep 3600",
            check=True)
    tasks = lab.ssh(NODE, f"{CTR} tasks ls", check=True).stdout
    assert re.search(r"^ctr-sleeper\s+\d+\s+RUNNING", tasks, re.M), tasks


def test_systemd_has_no_failed_unit(runtime) -> None:
    from kubemedic.lab import lab as lab_mod

    lab = runtime
    labels = json.loads(subprocess.run(["podman", "inspect", "-f", "{{json .Config.Labels}}", NODE],
                                       text=True, capture_output=True, check=True).stdout)
    assert labels[lab_mod.RECIPE_LABEL] == lab_mod.RUN_RECIPE
    assert lab.ssh(NODE, "systemctl is-system-running").stdout.strip() == "running"
    failed = lab.ssh(NODE, "systemctl list-units --failed --no-legend --plain", check=True)
    assert failed.stdout.strip() == ""


def test_nested_cgroups_stay_under_the_node_and_lab_down_leaves_no_leak(runtime) -> None:
    from kubemedic.lab import lab as lab_mod

    lab = runtime
    docker_id = lab.ssh(NODE, "docker inspect -f '{{.Id}}' sleeper", check=True).stdout.strip()
    node_id = subprocess.run(["podman", "inspect", "-f", "{{.Id}}", NODE], text=True,
                             capture_output=True, check=True).stdout.strip()
    # Hierarchies the host mounts: the nested container sits under the node's own cgroup.
    found = subprocess.run(["find", "/sys/fs/cgroup/memory", "-maxdepth", "6", "-type", "d",
                            "-name", f"docker-{docker_id}.scope"], text=True,
                           capture_output=True, check=False).stdout.split()
    assert found and all(f"libpod-{node_id}" in path for path in found), found

    # Hierarchies the host does not mount: at the top, shared by every node. A kernel that has
    # these controllers only in cgroup v2 (/proc/cgroups hierarchy 0; the 2 December 2026 VM
    # kernels) has no such v1 hierarchy, so nothing can leak there.
    leaky = lab_mod.nested_cgroups(NODE)
    expected = set(lab_mod.leaky_controllers())
    assert {controller for controller, _ in leaky} == expected, leaky
    if expected:
        paths = {path for _, path in leaky}
        assert f"/system.slice/docker-{docker_id}.scope" in paths, leaky
        assert "/kmtest/ctr-sleeper" in paths, leaky
    assert host_cgroup_dirs_exist(leaky) == leaky

    # Force-remove the node while both nested containers run.
    removed = lab_mod.down(lab.customer)
    assert NODE in removed
    assert host_cgroup_dirs_exist(leaky) == []
    assert lab_mod.down(lab.customer) == []
