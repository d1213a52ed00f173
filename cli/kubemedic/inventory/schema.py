"""The one declared schema of a customer inventory.

Field checks live here as data; the rules that span hosts (one first master, unique IPs, ...)
live in validate.py. `kubemedic inventory schema` prints this and docs/inventory.md is generated
from it, so the documentation cannot drift from what is enforced.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemedic import firewall, kubeversions, playbook_tags
from kubemedic.inputs import clip, shown

# Groups every customer inventory declares (possibly empty), all children of `cluster`.
CLUSTER_GROUP = "cluster"
GROUPS: dict[str, str] = {
    "masters": "Kubernetes control plane; exactly one host carries first_master: true",
    "workers": "Kubernetes worker nodes (a master may also be a worker; never the reverse)",
    "etcd": "etcd members (usually the masters)",
    "registry": "the node running the private image registry",
    "nfs_server": "the NFS server exporting shared storage",
    "gpu": "NVIDIA GPU nodes (accelerator: nvidia)",
    "npu": "Huawei Ascend NPU nodes (accelerator: ascend)",
}
LAB_OUTSIDE_GROUP = "lab_outside"
ACCELERATOR_GROUPS = {"nvidia": "gpu", "ascend": "npu"}

Check = Callable[[Any], "str | None"]


def _ip(value: Any) -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return f"{shown(value)} is not an IP address"
    return None


def _cidr(value: Any) -> str | None:
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        return f"{shown(value)} is not a network in CIDR form ({clip(str(exc))})"
    return None


_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def hostname_problem(name: str) -> str | None:
    if name != name.lower():
        return (f"hostname {shown(name)} has upper-case letters; Kubernetes node names and the "
                "OpenPAI layout require lower case")
    if not _HOSTNAME.match(name):
        return f"hostname {shown(name)} is not a valid DNS name (a-z, 0-9, '-', '.')"
    return None


def _version(value: Any) -> str | None:
    if not re.fullmatch(r"\d+\.\d+\.\d+", str(value)):
        return f"{shown(value)} is not a version like 1.28.2 (no leading 'v')"
    return None


def _kube_version(value: Any) -> str | None:
    return _version(value) or kubeversions.unsupported(value)


def _hostport(value: Any) -> str | None:
    match = re.fullmatch(r"([A-Za-z0-9.-]+):(\d{1,5})", str(value))
    if not match or not 0 < int(match.group(2)) < 65536:
        return f"{shown(value)} is not host:port (e.g. 192.168.100.10:5000)"
    return None


def _size(value: Any) -> str | None:
    if not re.fullmatch(r"\d+[kmg]", str(value)):
        return f"{shown(value)} is not a size like 100m (number + k, m or g)"
    return None


def _abs_path(value: Any) -> str | None:
    if not str(value).startswith("/"):
        return f"{shown(value)} is not an absolute path"
    return None


def _positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{shown(value)} is not a whole number >= 1"
    return None


def _tag_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(
            isinstance(tag, str) and re.fullmatch(r"[a-z0-9_-]+", tag) for tag in value):
        return f"{shown(value)} is not a list of tag names (a-z, 0-9, '_', '-')"
    problems = playbook_tags.unknown("site.yml", value)
    if problems:
        return "; ".join(problems) + " (playbooks/site.yml's tags are listed in docs/tags.md)"
    return None


def _public_ports(value: Any) -> str | None:
    found = firewall.problems(value)
    return "; ".join(found) if found else None


def _bool(value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"{shown(value)} is not true or false"
    return None


def _choice(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"{shown(value)} is not one of {', '.join(choices)}"
        return None

    return check


def _package(value: Any) -> str | None:
    if value == "":
        return None
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.~_-]*", str(value)):
        return f"{shown(value)} is not a Debian package name or a .deb file name"
    return None


def _dns_label(value: Any) -> str | None:
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", str(value)):
        return f"{shown(value)} is not a lower-case name (a-z, 0-9, '-')"
    return None


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    description: str
    check: Check
    required: bool = False
    default: Any = None
    example: Any = None
    choices: tuple[str, ...] = field(default=())


CLUSTER_FIELDS: tuple[Field, ...] = (
    Field("cluster_name", "name", "Short lower-case name of the cluster", _dns_label,
          required=True, example="acme-ai"),
    Field("cluster_subnet", "cidr", "The cluster's private subnet; every node IP must be inside "
          "it; hosts.allow and the firewall admit it", _cidr, required=True,
          example="192.168.100.0/24"),
    Field("cluster_devbox_cidr", "cidr", "Address(es) of the operator's dev-box; the firewall "
          "never cuts it off", _cidr, example="192.168.100.1/32"),
    Field("cluster_firewall_mode", "choice", "What the firewall role closes from outside the "
          "cluster subnet, the dev-box and the pod/service networks: default-deny admits only "
          "cluster_public_ports; named-ports (the older mode) drops only SSH, NFS/RPC, Redis and "
          "MySQL and leaves every other port open (docs/security.md)",
          _choice("default-deny", "named-ports"), default="default-deny",
          choices=("default-deny", "named-ports")),
    Field("cluster_public_ports", "list", "Ports admitted from outside in default-deny mode, "
          "also when docker/kube-proxy DNAT them (published ports, NodePorts): entries "
          "`{port: 6443 or \"30000-32767\", proto: tcp|udp|both (tcp), from: [CIDR, ...] (any), "
          "name: label}`", _public_ports, default=[],
          example=[{"port": 6443, "from": ["10.20.0.0/16"], "name": "kube-apiserver"},
                   {"port": 443, "name": "ingress"}]),
    Field("cluster_kubernetes_version", "version", "Kubernetes version for kubeadm/kubelet; "
          f"supported: {kubeversions.supported_range()} (kubeadm config API v1beta2 below 1.22, "
          "v1beta3 for 1.22-1.30, v1beta4 from 1.31)", _kube_version, required=True,
          example="1.28.2"),
    Field("cluster_pod_cidr", "cidr", "Pod network CIDR", _cidr, required=True,
          example="10.244.0.0/16"),
    Field("cluster_service_cidr", "cidr", "Service network CIDR", _cidr, required=True,
          example="10.96.0.0/12"),
    Field("cluster_registry", "host:port", "Private image registry every node pulls from",
          _hostport, required=True, example="192.168.100.10:5000"),
    Field("cluster_registry_tls", "bool", "The private registry serves https with a self-signed CA "
          "kubemedic generates (the registry role); nodes trust the CA instead of listing the "
          "registry as insecure", _bool, default=False),
    Field("cluster_registry_tls_verify", "bool", "Verify the registry's certificate when the "
          "control plane checks its images there (with cluster_registry_tls)", _bool,
          default=True),
    Field("cluster_bundle_dir", "path", "Offline bundle folder on the dev-box", _abs_path,
          example="/srv/kubemedic/bundle"),
    Field("cluster_docker_data_root", "path", "Docker data-root (put it on the data disk)",
          _abs_path, default="/var/lib/docker"),
    Field("cluster_log_max_size", "size", "Container log max-size before rotation", _size,
          default="100m"),
    Field("cluster_log_max_file", "int", "Container log files kept per container",
          _positive_int, default=3),
    Field("cluster_nfs_enabled", "bool", "Shared storage over NFS from the nfs_server node",
          _bool, default=False),
    Field("cluster_container_runtime", "choice", "Container runtime for Kubernetes; unset: docker "
          "(through kubelet's dockershim) below Kubernetes 1.24, containerd from 1.24 (dockershim "
          "is gone); docker with 1.24 or later needs cluster_cri_dockerd_package",
          _choice("docker", "containerd"), default="docker < 1.24, containerd >= 1.24",
          choices=("docker", "containerd")),
    Field("cluster_cri_dockerd_package", "package", "cri-dockerd package of the offline bundle "
          "(a package name, or a .deb file in the bundle's debs/): kubelet talks to docker "
          "through it on Kubernetes 1.24 and later (installed by kubernetes_node)",
          _package, default=""),
    Field("cluster_crictl_package", "package", "crictl package (a package name in the node's "
          "sources, e.g. the offline bundle's debs/): kubeadm needs crictl with containerd "
          "(installed by kubernetes_node); kubemedic-crictl is scripts/build-crictl's",
          _package, default="cri-tools"),
    Field("cluster_docker_storage_driver", "choice", "Docker storage-driver; unset = docker's "
          "own choice (overlay2). The lab sets vfs (overlay on its nodes' overlay root fails)",
          _choice("overlay2", "vfs", "btrfs", "zfs", "fuse-overlayfs"),
          choices=("overlay2", "vfs", "btrfs", "zfs", "fuse-overlayfs")),
    Field("cluster_containerd_snapshotter", "choice", "containerd snapshotter for Kubernetes "
          "(CRI); the lab sets native (overlay on its nodes' overlay root fails)",
          _choice("overlayfs", "native", "btrfs", "zfs", "devmapper"), default="overlayfs",
          choices=("overlayfs", "native", "btrfs", "zfs", "devmapper")),
    Field("cluster_shared_kernel", "bool", "Set only by the rehearsal lab: nodes share one kernel, "
          "so roles skip swapoff, non-net sysctls and modprobe (files are still written)",
          _bool, default=False),
    Field("cluster_bootstrap_skip_tags", "list", "site.yml tags `kubemedic bootstrap` skips when "
          "it is given neither --tags nor --skip-tags (the lab lists the roles it cannot run)",
          _tag_list, default=[]),
    Field("cluster_allow_command_lookups", "bool", "Allow inventory values that template a "
          "command-running lookup (`lookup('pipe', ...)`, `lines`, `query`/`q`, or any plugin "
          "that is not a read-only one): Ansible would run it on the dev-box. Refused unless "
          "this is true", _bool, default=False),
)

HOST_FIELDS: tuple[Field, ...] = (
    Field("ansible_host", "ip", "IP address kubemedic connects to (inside cluster_subnet)", _ip,
          required=True, example="192.168.100.11"),
    Field("first_master", "bool", "Exactly one master initialises the cluster", _bool,
          default=False),
    Field("accelerator", "choice", "Accelerator type of the node",
          _choice("nvidia", "ascend", "none"), default="none",
          choices=("nvidia", "ascend", "none")),
)

CLUSTER_FIELD_NAMES = frozenset(f.name for f in CLUSTER_FIELDS)


def as_markdown() -> str:
    """The schema as a Markdown reference (docs/inventory.md is this text)."""
    lines = [
        "# Inventory reference",
        "",
        "Generated from `cli/kubemedic/inventory/schema.py` by `kubemedic inventory schema`;",
        "do not edit by hand. `kubemedic inventory check <customer>` enforces it.",
        "",
        "## Groups (children of `cluster`)",
        "",
        "| group | meaning |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in GROUPS.items()),
        f"| `{LAB_OUTSIDE_GROUP}` | lab only, outside `cluster`: hosts off the cluster subnet |",
        "",
    ]
    for title, fields in (("Cluster settings (`group_vars/all.yml`)", CLUSTER_FIELDS),
                          ("Host settings (`hosts.yml` or `host_vars/<host>.yml`)", HOST_FIELDS)):
        lines += [f"## {title}", "", "| field | type | required | default | meaning |",
                  "|---|---|---|---|---|"]
        for f in fields:
            default = "" if f.default is None else f"`{f.default}`"
            kind = f.kind + (f" ({'/'.join(f.choices)})" if f.choices else "")
            lines.append(f"| `{f.name}` | {kind} | {'yes' if f.required else 'no'} | {default} "
                         f"| {f.description} |")
        lines.append("")
    lines += [
        "## Rules across hosts",
        "",
        "- exactly one host of `masters` has `first_master: true`; no host outside `masters` has it",
        "- host names are lower case DNS names (seed 001: OpenPAI refuses upper case)",
        "- `ansible_host` IPs are unique and inside `cluster_subnet` (hosts of `lab_outside` excepted)",
        "- `accelerator` matches the group: `gpu` hosts are `nvidia`, `npu` hosts are `ascend`, "
        "and a host is not in both",
        "- `cluster_subnet`, `cluster_pod_cidr` and `cluster_service_cidr` parse and do not overlap",
        "- `cluster_nfs_enabled: true` needs exactly one host in `nfs_server`",
        "- when the `registry` group has a host, `cluster_registry` names it (IP or name)",
        "- unknown `cluster_*` keys are refused (they are almost always typos)",
        "- values templating a command-running lookup are refused unless "
        "`cluster_allow_command_lookups: true`",
        "- warnings (errors with `--strict`): a host in no group, a group kubemedic does not know, "
        "host_vars for a host the inventory does not have, a duplicate key in a YAML mapping",
        "- every file is UTF-8, at most 8 MiB, nested at most 64 levels, and its YAML aliases "
        "expand to at most 200,000 nodes",
        "",
    ]
    return "\n".join(lines)
