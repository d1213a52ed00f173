"""Kubernetes on containerd and the half-done kubeadm init (issue 15), the parts a unit test
can show; tests/integration/test_kubernetes_containerd_real.py runs them on a real 1.20.2
cluster.

- containerd's runc binary (container_runtime_containerd_runc_binary): the lab points
  containerd's default runtime at its runc wrapper, as it does docker's; customer nodes keep
  runc from PATH (no BinaryName written).
- kubeadm needs crictl with containerd: `lab up --kubernetes --kubernetes-runtime containerd`
  puts scripts/build-crictl's package in the bundle and names it (cluster_crictl_package), and
  the inventory check knows the field.
- A kubeadm init that stopped after writing admin.conf: init.yml runs the init phases that come
  after wait-control-plane, less the skipped ones (filter kubemedic_kubeadm_phases_left).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from kubemedic.inventory import schema
from kubemedic.lab import kubernetes as kube_lab
from tests.unit.test_cri_socket import REPO, _load

_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_kubeadm", REPO / "plugins" / "filter" / "kubemedic_kubeadm.py")
assert _SPEC and _SPEC.loader
kubeadm_filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kubeadm_filters)

FINISH = ["upload-config all", "upload-certs --upload-certs", "mark-control-plane",
          "bootstrap-token", "kubelet-finalize all", "addon coredns", "addon kube-proxy"]


def runc_options(**extra: object) -> dict[str, str]:
    """key = value lines of the runc options table of the rendered containerd config."""
    role = REPO / "roles" / "container_runtime"
    variables = {**_load(role / "defaults" / "main.yml"), **_load(role / "vars" / "main.yml"),
                 "cluster_registry": "192.168.100.10:5000", "cluster_kubernetes_version": "1.20.2",
                 "ansible_managed": "Ansible managed", **extra}
    text = (role / "templates" / "containerd-config.toml.j2").read_text()
    rendered = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    table = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]'
    lines = rendered.split(table, 1)[1].split("\n[", 1)[0].splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines
                if "=" in line)


def test_containerd_runc_binary_only_when_set() -> None:
    assert runc_options() == {"SystemdCgroup": "true"}
    options = runc_options(
        container_runtime_containerd_runc_binary="/usr/local/sbin/kubemedic-lab-runc")
    assert options == {"SystemdCgroup": "true",
                       "BinaryName": '"/usr/local/sbin/kubemedic-lab-runc"'}


def test_lab_settings_per_runtime(tmp_path: Path) -> None:
    docker = kube_lab.inventory_settings(tmp_path)
    containerd = kube_lab.inventory_settings(tmp_path, "containerd")
    assert docker["cluster_container_runtime"] == "docker"
    assert "container_runtime_containerd_runc_binary" not in docker
    assert "cluster_crictl_package" not in docker
    assert containerd["cluster_container_runtime"] == "containerd"
    assert containerd["container_runtime_containerd_runc_binary"] == kube_lab.LAB_RUNC_PATH
    assert containerd["cluster_crictl_package"] == "kubemedic-crictl"
    # everything else is the same lab
    rest = {k: v for k, v in containerd.items()
            if k not in ("cluster_container_runtime", "container_runtime_containerd_runc_binary",
                         "cluster_crictl_package")}
    assert rest == {k: v for k, v in docker.items() if k != "cluster_container_runtime"}


def test_crictl_package_is_a_known_cluster_field() -> None:
    field = next(f for f in schema.CLUSTER_FIELDS if f.name == "cluster_crictl_package")
    assert field.check("kubemedic-crictl") is None
    assert field.check("not a package!") is not None
    # the role's default is upstream's package name, the schema's documented default too
    defaults = _load(REPO / "roles" / "kubernetes_node" / "defaults" / "main.yml")
    assert "default('cri-tools')" in defaults["kubernetes_node_crictl_package"]
    assert field.default == "cri-tools"


def test_lab_up_refuses_an_unknown_runtime() -> None:
    from kubemedic.errors import KubemedicUsageError
    from kubemedic.lab import lab

    with pytest.raises(KubemedicUsageError, match="--kubernetes-runtime cri-o: use docker or"):
        lab.up("km-unit", kubernetes=True, kubernetes_runtime="cri-o")


def phases_left(skipped: list[str]) -> list[str]:
    return kubeadm_filters.kubeadm_phases_left(FINISH, skipped)


def test_the_phases_after_wait_control_plane_less_the_skipped_ones() -> None:
    assert phases_left([]) == FINISH
    # the lab's skips: both addons
    assert phases_left(["addon/coredns", "addon/kube-proxy"]) == FINISH[:5]
    # a parent, or its `all`, skips every child
    assert phases_left(["addon"]) == FINISH[:5]
    assert phases_left(["addon/all"]) == FINISH[:5]
    assert phases_left(["upload-config"]) == FINISH[1:]
    assert phases_left(["upload-certs", "addon/coredns"]) == [
        "upload-config all", "mark-control-plane", "bootstrap-token", "kubelet-finalize all",
        "addon kube-proxy"]
    # phases before wait-control-plane change nothing here
    assert phases_left(["preflight", "certs/ca"]) == FINISH
    with pytest.raises(AnsibleFilterError, match="names no phase"):
        kubeadm_filters.kubeadm_phases_left(["--upload-certs"], [])


def test_the_role_finishes_what_the_lab_skips_nothing_of() -> None:
    """The role's phase list, rendered with the lab's skips: what init.yml runs on the lab's
    half-done init (the real-cluster test checks each one ran)."""
    role = REPO / "roles" / "kubernetes_control_plane"
    variables = {**_load(role / "defaults" / "main.yml"), **_load(role / "vars" / "main.yml"),
                 "kubernetes_control_plane_skip_phases": ["addon/coredns", "addon/kube-proxy"]}
    templar = Templar(loader=DataLoader(), variables=variables)
    phases = templar.template(trust_as_template("{{ _kubernetes_control_plane_finish_phases }}"))
    assert phases == FINISH[:5]


def _shell_cmd(task_file: str, task_name: str, item: dict) -> str:
    """The bash command line of an offline_images shell task, rendered for ITEM."""
    role = REPO / "roles" / "offline_images"
    tasks = yaml.safe_load((role / "tasks" / task_file).read_text())
    task = next(t for t in tasks if t["name"] == task_name)
    variables = {**_load(role / "defaults" / "main.yml"),
                 "offline_images_registry": "10.77.90.11:5000", "item": item}
    variables["_offline_images_ctr"] = "ctr -n k8s.io"
    variables["_offline_images_ctr_ref"] = item["ref"]
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(task["ansible.builtin.shell"]["cmd"]))


@pytest.fixture()
def fake_ctr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `ctr` that lists what containerd's k8s.io namespace holds once kubelet has run: the
    wanted names first, then thousands of other lines (image ids, content digests), more than a
    pipe holds; `images tag` onto an existing name fails as the real one does."""
    log = tmp_path / "ctr.log"
    script = tmp_path / "ctr"
    script.write_text(f"""#!/bin/bash
echo "$*" >> {log}
case "$*" in
  *"images tag"*) echo 'ctr: image "'"$5"'": already exists' >&2; exit 1 ;;
  *"content ls -q"*) echo sha256:0a; for i in $(seq 1 20000); do echo sha256:$i; done ;;
  *"images ls -q"*) echo 10.77.90.11:5000/kube-proxy:v1.20.2; echo k8s.gcr.io/kube-proxy:v1.20.2
                    for i in $(seq 1 20000); do echo sha256:$i; done ;;
esac
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    return log


def test_containerd_name_checks_survive_a_long_listing(fake_ctr: Path) -> None:
    """Seen on the real containerd cluster: `set -o pipefail; ctr images ls -q | grep -qx NAME`
    fails when NAME is found early in a long listing (grep -q exits, ctr dies of SIGPIPE, the
    pipeline's status is ctr's), so a second bootstrap tagged an image that had its name and
    failed with `already exists`, and the load check re-imported images already there."""
    item = {"ref": "k8s.gcr.io/kube-proxy:v1.20.2", "name": "kube-proxy:v1.20.2",
            "id": "sha256:0a"}
    retag = _shell_cmd("retag.yml", "Offline images | containerd tag to the private registry", item)
    done = subprocess.run(["bash", "-c", retag], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "present"), done.stderr
    assert "images tag" not in fake_ctr.read_text()
    have = _shell_cmd("load.yml", "Offline images | which bundle images containerd already has "
                      "(config digest + name)", item)
    assert subprocess.run(["bash", "-c", have], check=False).returncode == 0
    # and an image containerd lacks is still told apart
    missing = {**item, "id": "sha256:ffff"}
    have = _shell_cmd("load.yml", "Offline images | which bundle images containerd already has "
                      "(config digest + name)", missing)
    assert subprocess.run(["bash", "-c", have], check=False).returncode == 1
