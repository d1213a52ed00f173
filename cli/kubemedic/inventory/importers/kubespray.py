"""Import a kubespray inventory (inventory.ini or hosts.yaml, plus its group_vars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubemedic import inputs
from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.writer import HostSpec, covering_subnet, example_cluster_vars

# kubespray group names, current and pre-2.16.
GROUP_MAP = {
    "kube_control_plane": "masters",
    "kube-master": "masters",
    "kube_node": "workers",
    "kube-node": "workers",
    "etcd": "etcd",
}
# kubespray variable -> kubemedic cluster setting (value converter).
VAR_MAP = {
    "kube_version": ("cluster_kubernetes_version", lambda v: str(v).lstrip("v")),
    "kube_pods_subnet": ("cluster_pod_cidr", str),
    "kube_service_addresses": ("cluster_service_cidr", str),
    "docker_daemon_graph": ("cluster_docker_data_root", str),
}


def parse(path: Path) -> tuple[list[HostSpec], dict[str, Any]]:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    if not path.is_file():
        raise KubemedicUsageError(f"{path}: no such kubespray inventory file")
    # Bounded and decoded by kubemedic first: Ansible's own parsers trace back on these.
    text = inputs.read_text(path)
    if path.suffix in (".yml", ".yaml"):
        inputs.load_yaml(text, str(path))
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)
    if not inventory.get_hosts():
        raise KubemedicUsageError(f"{path}: no hosts found (not an inventory.ini/hosts.yaml?)")
    hosts: list[HostSpec] = []
    problems: list[str] = []
    cluster = example_cluster_vars()
    cluster.pop("cluster_devbox_cidr", None)
    for host in inventory.get_hosts():
        hvars = variables.get_vars(host=host, include_hostvars=False)
        groups = {GROUP_MAP[g.name] for g in host.get_groups() if g.name in GROUP_MAP}
        if not groups:
            continue  # bastion, calico_rr, ...: not a node kubemedic manages
        # kubespray's `ip` is the private address the cluster binds to; ansible_host may be public.
        address = hvars.get("ip") or hvars.get("access_ip") or hvars.get("ansible_host")
        if not address:
            problems.append(f"{path}: host {host.name!r}: no ip/ansible_host")
            continue
        if inputs.JINJA.search(str(address)):
            problems.append(f"{path}: host {host.name!r}: address {inputs.shown(str(address))} "
                            "contains Jinja; imported values must be plain")
            continue
        hosts.append(HostSpec(name=str(host.name), ip=str(address), groups=groups))
        for source, (target, convert) in VAR_MAP.items():
            if source in hvars and "{{" not in str(hvars[source]):
                cluster[target] = convert(hvars[source])
    masters = [h for h in hosts if "masters" in h.groups]
    if not problems and not masters:
        problems.append(f"{path}: no host in kube_control_plane (or kube-master)")
    if problems:
        raise KubemedicUsageError(f"cannot import {path}", problems)
    masters[0].first_master = True
    masters[0].groups.add("registry")
    try:
        subnet = covering_subnet([h.ip for h in hosts])
    except ValueError as exc:
        raise KubemedicUsageError(f"cannot import {path}: host addresses: "
                                  f"{inputs.clip(str(exc))}") from None
    cluster.update(cluster_subnet=subnet,
                   cluster_registry=f"{masters[0].ip}:5000", cluster_nfs_enabled=False)
    return hosts, cluster
