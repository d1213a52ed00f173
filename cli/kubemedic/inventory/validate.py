"""Inventory validation on plain data, shared by the CLI and the Ansible action plugin.

Nothing here imports Ansible or touches the network: `InventoryData` is hosts with their merged
variables plus group membership, and `validate()` returns every problem at once so an operator
fixes a broken inventory in one pass.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemedic.inputs import VAULT_PLACEHOLDER
from kubemedic.inventory import schema

# Given (host or None, field), the file that defines it, for error messages.
Locator = Callable[["str | None", str], str]


@dataclass
class InventoryData:
    hosts: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]
    locate: Locator = field(default=lambda host, name: "inventory")
    # Not errors, but rarely meant (a host in no group, duplicate keys, ...); --strict refuses.
    warnings: list[str] = field(default_factory=list)

    def cluster_hosts(self) -> list[str]:
        return list(self.groups.get(schema.CLUSTER_GROUP, []))

    def cluster_vars(self) -> dict[str, Any]:
        """Cluster settings as the first cluster host sees them (group_vars/all applies to all)."""
        members = self.cluster_hosts()
        return self.hosts[members[0]] if members else {}


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str
    host: str | None = None

    def __str__(self) -> str:
        where = f"host {self.host!r}: " if self.host else ""
        return f"{self.file}: {where}{self.field}: {self.message}"


def _templated(value: Any) -> bool:
    """Known only at run time: a template, or a vaulted value loaded without the password."""
    return isinstance(value, str) and ("{{" in value or value == VAULT_PLACEHOLDER)


def _check_fields(data: InventoryData, fields: tuple[schema.Field, ...], values: dict[str, Any],
                  host: str | None) -> list[Problem]:
    problems = []
    for spec in fields:
        if spec.name not in values or values[spec.name] is None:
            if spec.required:
                problems.append(Problem(data.locate(host, spec.name), spec.name,
                                        "is required but not set", host))
            continue
        value = values[spec.name]
        if _templated(value):
            continue  # resolved by Ansible at run time
        error = spec.check(value)
        if error:
            problems.append(Problem(data.locate(host, spec.name), spec.name, error, host))
    return problems


def _check_groups(data: InventoryData) -> list[Problem]:
    problems = []
    if schema.CLUSTER_GROUP not in data.groups or not data.cluster_hosts():
        return [Problem(data.locate(None, "groups"), "groups",
                        f"no hosts under the group '{schema.CLUSTER_GROUP}'")]
    for name in schema.GROUPS:
        if name not in data.groups:
            problems.append(Problem(data.locate(None, "groups"), f"groups.{name}",
                                    f"group '{name}' is missing (declare it, even empty)"))
    if not data.groups.get("masters"):
        problems.append(Problem(data.locate(None, "groups"), "groups.masters",
                                "needs at least one host"))
    return problems


def _check_first_master(data: InventoryData) -> list[Problem]:
    problems = []
    masters = set(data.groups.get("masters", []))
    flagged = [h for h in data.cluster_hosts() if data.hosts[h].get("first_master") is True]
    for host in flagged:
        if host not in masters:
            problems.append(Problem(data.locate(host, "first_master"), "first_master",
                                    "is set on a host that is not in 'masters'", host))
    flagged_masters = [h for h in flagged if h in masters]
    if masters and len(flagged_masters) != 1:
        found = ", ".join(flagged_masters) or "none"
        problems.append(Problem(data.locate(None, "first_master"), "first_master",
                                f"exactly one master must have first_master: true (found: {found})"))
    return problems


def _check_addresses(data: InventoryData, subnet: ipaddress._BaseNetwork | None) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for host in data.cluster_hosts():
        problem = schema.hostname_problem(host)
        if problem:
            problems.append(Problem(data.locate(host, "hostname"), "hostname", problem, host))
        address = data.hosts[host].get("ansible_host")
        if address is None or _templated(address) or schema._ip(address):
            continue  # missing/invalid already reported by the field checks
        if address in seen:
            problems.append(Problem(data.locate(host, "ansible_host"), "ansible_host",
                                    f"{address} is also used by host {seen[address]!r}", host))
        else:
            seen[str(address)] = host
        if subnet is not None and ipaddress.ip_address(str(address)) not in subnet:
            problems.append(Problem(data.locate(host, "ansible_host"), "ansible_host",
                                    f"{address} is outside cluster_subnet {subnet}", host))
    return problems


def _check_accelerators(data: InventoryData) -> list[Problem]:
    problems = []
    for host in data.cluster_hosts():
        kind = data.hosts[host].get("accelerator", "none")
        in_groups = [g for g in schema.ACCELERATOR_GROUPS.values() if host in data.groups.get(g, [])]
        if len(in_groups) > 1:
            problems.append(Problem(data.locate(host, "accelerator"), "groups",
                                    "is in both 'gpu' and 'npu'", host))
            continue
        if kind not in ("nvidia", "ascend", "none"):
            continue  # reported by the field check (a list here is not even hashable)
        expected_group = schema.ACCELERATOR_GROUPS.get(kind)
        if in_groups and expected_group != in_groups[0]:
            problems.append(Problem(data.locate(host, "accelerator"), "accelerator",
                                    f"is {kind!r} but the host is in group '{in_groups[0]}' "
                                    f"(expected {_kind_of(in_groups[0])!r})", host))
        elif expected_group and not in_groups:
            problems.append(Problem(data.locate(host, "accelerator"), "accelerator",
                                    f"is {kind!r} but the host is not in group '{expected_group}'",
                                    host))
    return problems


def _kind_of(group: str) -> str:
    return next(k for k, g in schema.ACCELERATOR_GROUPS.items() if g == group)


def _networks(data: InventoryData, cvars: dict[str, Any]) -> tuple[list[Problem], Any]:
    problems = []
    parsed = {}
    for name in ("cluster_subnet", "cluster_pod_cidr", "cluster_service_cidr"):
        value = cvars.get(name)
        if value is None or _templated(value) or schema._cidr(value):
            continue
        parsed[name] = ipaddress.ip_network(str(value))
    names = list(parsed)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if parsed[first].overlaps(parsed[second]):
                problems.append(Problem(data.locate(None, second), second,
                                        f"{parsed[second]} overlaps {first} {parsed[first]}"))
    return problems, parsed.get("cluster_subnet")


def _check_services(data: InventoryData, cvars: dict[str, Any]) -> list[Problem]:
    problems = []
    nfs_servers = data.groups.get("nfs_server", [])
    if cvars.get("cluster_nfs_enabled") is True and len(nfs_servers) != 1:
        problems.append(Problem(data.locate(None, "cluster_nfs_enabled"), "cluster_nfs_enabled",
                                f"NFS is enabled but group 'nfs_server' has {len(nfs_servers)} "
                                "hosts (exactly one needed)"))
    registry = cvars.get("cluster_registry")
    registry_hosts = data.groups.get("registry", [])
    if registry_hosts and registry and not _templated(registry) and not schema._hostport(registry):
        host_part = str(registry).rsplit(":", 1)[0]
        known = set(registry_hosts) | {
            str(data.hosts[h]["ansible_host"]) for h in registry_hosts
            if data.hosts[h].get("ansible_host")}
        if host_part not in known:
            problems.append(Problem(data.locate(None, "cluster_registry"), "cluster_registry",
                                    f"{registry} does not point at the registry host "
                                    f"({', '.join(sorted(known))})"))
    return problems


# The first Kubernetes release without dockershim (kubelet can no longer drive docker by itself).
NO_DOCKERSHIM = (1, 24)


def _check_runtime(data: InventoryData, cvars: dict[str, Any]) -> list[Problem]:
    """docker with Kubernetes >= 1.24 works only through cri-dockerd, which kubemedic installs
    from the offline bundle only when cluster_cri_dockerd_package names it."""
    runtime, version = cvars.get("cluster_container_runtime"), cvars.get("cluster_kubernetes_version")
    if (runtime != "docker" or _templated(version) or schema._version(version) is not None
            or cvars.get("cluster_cri_dockerd_package")):
        return []
    if tuple(int(n) for n in str(version).split(".")[:2]) < NO_DOCKERSHIM:
        return []
    return [Problem(data.locate(None, "cluster_container_runtime"), "cluster_container_runtime",
                    f"docker with cluster_kubernetes_version {version}: Kubernetes 1.24 and "
                    "later have no dockershim, and cluster_cri_dockerd_package is not set "
                    "(nothing would install cri-dockerd). Use cluster_container_runtime: "
                    "containerd (the default from 1.24), or set cluster_cri_dockerd_package to "
                    "the cri-dockerd package of the offline bundle")]


def _check_unknown_cluster_keys(data: InventoryData, cvars: dict[str, Any]) -> list[Problem]:
    return [Problem(data.locate(None, key), key, "unknown cluster setting (typo?); known: see "
                    "`kubemedic inventory schema`")
            for key in sorted(cvars)
            if key.startswith("cluster_") and key not in schema.CLUSTER_FIELD_NAMES]


def validate(data: InventoryData) -> list[Problem]:
    """Every problem in the inventory; an empty list means it is valid."""
    problems = _check_groups(data)
    if not data.cluster_hosts():
        return problems
    cvars = data.cluster_vars()
    problems += _check_fields(data, schema.CLUSTER_FIELDS, cvars, None)
    problems += _check_unknown_cluster_keys(data, cvars)
    for host in data.cluster_hosts():
        problems += _check_fields(data, schema.HOST_FIELDS, data.hosts[host], host)
    network_problems, subnet = _networks(data, cvars)
    problems += network_problems
    problems += _check_addresses(data, subnet)
    problems += _check_first_master(data)
    problems += _check_accelerators(data)
    problems += _check_services(data, cvars)
    problems += _check_runtime(data, cvars)
    return problems
