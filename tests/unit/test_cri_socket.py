"""docker, dockershim, cri-dockerd and containerd (issue 14): `cluster_container_runtime: docker`
pointed kubeadm at cri-dockerd's socket, but nothing installed cri-dockerd, and below Kubernetes
1.24 kubelet needs none (dockershim). The socket is decided once (playbooks/group_vars/all/
kubemedic.yml, kubemedic_cri_socket); the kubeadm configs are rendered here with ansible-core's
Templar for each case, and `inventory check` refuses docker >= 1.24 without cri-dockerd."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader, init_plugin_loader
from ansible.template import Templar, trust_as_template

from kubemedic.inventory import loader
from kubemedic.inventory.validate import validate
from tests.conftest import run_kubemedic

REPO = Path(__file__).resolve().parents[2]
init_plugin_loader()
filter_loader.add_directory(str(REPO / "plugins" / "filter"))


def _load(path: Path) -> dict:
    return dict(DataLoader().load_from_file(str(path), trusted_as_template=True) or {})


def render_kubeadm(role: str, template: str, inventory: dict, **extra: object) -> list[dict]:
    variables = {**_load(REPO / "playbooks" / "group_vars" / "all" / "kubemedic.yml"),
                 **_load(REPO / "roles" / role / "defaults" / "main.yml"),
                 **_load(REPO / "roles" / role / "vars" / "main.yml"),
                 "cluster_name": "acme", "cluster_pod_cidr": "10.244.0.0/16",
                 "cluster_service_cidr": "10.96.0.0/12", "cluster_registry": "192.168.100.10:5000",
                 "inventory_hostname": "m1", "inventory_dir": "/srv/acme",
                 "groups": {"masters": ["m1"], "cluster": ["m1"]},
                 "hostvars": {"m1": {"inventory_hostname": "m1", "ansible_host": "192.168.100.11",
                                     "first_master": True}},
                 "ansible_host": "192.168.100.11", "ansible_managed": "Ansible managed",
                 **inventory, **extra}
    text = (REPO / "roles" / role / "templates" / template).read_text()
    rendered = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


CASES = [
    ({"cluster_kubernetes_version": "1.20.2", "cluster_container_runtime": "docker"},
     "/var/run/dockershim.sock"),
    ({"cluster_kubernetes_version": "1.23.17"}, "/var/run/dockershim.sock"),  # default: docker
    ({"cluster_kubernetes_version": "1.28.2"}, "unix:///run/containerd/containerd.sock"),
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": "cri-dockerd"}, "unix:///var/run/cri-dockerd.sock"),
    ({"cluster_kubernetes_version": "1.20.2", "cluster_container_runtime": "containerd"},
     "unix:///run/containerd/containerd.sock"),
]


@pytest.mark.parametrize(("inventory", "socket"), CASES)
def test_init_config_cri_socket(inventory: dict, socket: str) -> None:
    docs = render_kubeadm("kubernetes_control_plane", "kubeadm-config.yaml.j2", inventory,
                          kubernetes_control_plane_advertise_address="192.168.100.11",
                          _kubernetes_control_plane_cgroup_driver="systemd")
    init = next(d for d in docs if d["kind"] == "InitConfiguration")
    assert init["nodeRegistration"]["criSocket"] == socket


@pytest.mark.parametrize(("inventory", "socket"), CASES)
def test_join_config_cri_socket(inventory: dict, socket: str) -> None:
    docs = render_kubeadm("kubernetes_join", "kubeadm-join.yaml.j2", inventory,
                          kubernetes_join_advertise_address="192.168.100.12",
                          _kubernetes_join_token="abcdef.0123456789abcdef",
                          _kubernetes_join_ca_hash="sha256:" + "0" * 64,
                          _kubernetes_join_certificate_key="")
    assert docs[0]["nodeRegistration"]["criSocket"] == socket


def test_an_explicit_socket_still_wins() -> None:
    docs = render_kubeadm("kubernetes_control_plane", "kubeadm-config.yaml.j2",
                          {"cluster_kubernetes_version": "1.28.2"},
                          kubernetes_control_plane_cri_socket="unix:///run/crio/crio.sock",
                          kubernetes_control_plane_advertise_address="192.168.100.11",
                          _kubernetes_control_plane_cgroup_driver="systemd")
    assert docs[0]["nodeRegistration"]["criSocket"] == "unix:///run/crio/crio.sock"


@pytest.fixture()
def inventories(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "inventories" / "example", tmp_path / "acme")
    return tmp_path


def set_vars(inventories: Path, **values: object) -> Path:
    path = inventories / "acme" / "group_vars" / "all.yml"
    data = yaml.safe_load(path.read_text())
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))
    return path


def problems(inventories: Path) -> list[str]:
    _root, data = loader.load("acme", str(inventories))
    return [str(p) for p in validate(data)]


@pytest.mark.parametrize(("values", "refused"), [
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": None}, True),
    ({"cluster_kubernetes_version": "1.24.0", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": ""}, True),
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": "cri-dockerd"}, False),
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": "cri-dockerd_0.3.4.3-0.debian-bookworm_amd64.deb"}, False),
    ({"cluster_kubernetes_version": "1.23.17", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": None}, False),
    ({"cluster_kubernetes_version": "1.20.2", "cluster_container_runtime": "docker",
      "cluster_cri_dockerd_package": None}, False),
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": "containerd",
      "cluster_cri_dockerd_package": None}, False),
    ({"cluster_kubernetes_version": "1.28.2", "cluster_container_runtime": None,
      "cluster_cri_dockerd_package": None}, False),
])
def test_docker_from_1_24_needs_cri_dockerd(inventories: Path, values: dict, refused: bool) -> None:
    path = set_vars(inventories, **values)
    found = [p for p in problems(inventories) if "dockershim" in p]
    assert bool(found) is refused, problems(inventories)
    if refused:
        assert found[0].startswith(f"{path}: cluster_container_runtime: ")
        assert "cluster_cri_dockerd_package" in found[0] and "containerd" in found[0]


def test_a_bad_package_name_is_refused(inventories: Path) -> None:
    set_vars(inventories, cluster_cri_dockerd_package="Cri Dockerd")
    assert any("cluster_cri_dockerd_package" in p and "package name" in p
               for p in problems(inventories))


def test_inventory_check_exits_2_naming_the_file_and_field(inventories: Path) -> None:
    set_vars(inventories, cluster_kubernetes_version="1.28.2", cluster_container_runtime="docker",
             cluster_cri_dockerd_package=None)
    result = run_kubemedic("inventory", "check", "acme",
                           env={"KUBEMEDIC_INVENTORY_DIR": str(inventories)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "acme/group_vars/all.yml: cluster_container_runtime: " in result.stderr
    assert "dockershim" in result.stderr


def reset_argv(inventory: dict, **extra: object) -> list[str]:
    """The argv of kubernetes_node's `kubeadm reset -f` task, rendered for INVENTORY."""
    tasks = yaml.safe_load((REPO / "roles/kubernetes_node/tasks/reset.yml").read_text())
    task = next(t for t in tasks if t["name"] == "Kubernetes node | kubeadm reset -f")
    variables = {**_load(REPO / "playbooks" / "group_vars" / "all" / "kubemedic.yml"),
                 **_load(REPO / "roles" / "kubernetes_node" / "defaults" / "main.yml"),
                 **_load(REPO / "roles" / "kubernetes_node" / "vars" / "main.yml"),
                 "inventory_hostname": "w1", "groups": {"masters": ["m1"], "workers": ["w1"]},
                 **inventory, **extra}
    templar = Templar(loader=DataLoader(), variables=variables)
    return [str(templar.template(trust_as_template(arg)))
            for arg in task["ansible.builtin.command"]["argv"]]


@pytest.mark.parametrize(("inventory", "socket"), CASES)
def test_reset_names_the_runtime_socket(inventory: dict, socket: str) -> None:
    """kubeadm 1.20 reset without --cri-socket on a worker (no admin.conf to read the node's
    socket from) takes docker's socket wherever docker runs, and docker runs on containerd nodes
    too: it removed no containerd pod. The socket is always the one init and join used."""
    assert reset_argv(inventory) == ["kubeadm", "reset", "-f", "--cri-socket", socket]


def test_reset_takes_an_explicit_socket() -> None:
    argv = reset_argv({"cluster_kubernetes_version": "1.28.2"},
                      kubernetes_node_cri_socket="unix:///run/crio/crio.sock")
    assert argv[-2:] == ["--cri-socket", "unix:///run/crio/crio.sock"]
