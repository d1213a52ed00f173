"""The rehearsal lab: systemd + sshd podman nodes on a cluster network and an outside network.

Every node is a real Debian 12 system reached over real ssh, so each verb runs against the lab
exactly as against a customer's cluster. What cannot be real (one shared kernel: no NFS server,
no GPUs, no reboots into a new kernel) is listed in docs/lab.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubemedic import paths
from kubemedic.errors import KubemedicUsageError
from kubemedic.lab.image import ensure_image

LABEL = "kubemedic.lab"
# A CI run (or any caller that cleans up by label) sets KUBEMEDIC_LAB_RUN to an id of its own;
# its labs carry it as RUN_LABEL so its cleanup removes only what it created, never another
# lab on the same machine (an operator's own included).
RUN_LABEL = "kubemedic.lab.run"
RUN_ENV = "KUBEMEDIC_LAB_RUN"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
DEFAULT_SUBNET = "192.168.230.0/24"
# How every lab node runs (molecule scenarios too: molecule/resources/create.yml calls `lab up`).
# Not podman's --systemd=always: on a cgroup v1 host it mounts the host's whole name=systemd tree
# over the node's own, so runc inside the node computes wrong cgroup paths and no nested container
# starts. A private cgroup namespace gives the node its own cgroup roots; the tmpfs mounts and
# the stop signal are what systemd mode added (/tmp and the journal stay in memory, as before).
# Podman refuses higher nproc, and setrlimit fails without nofile (see docs/lab.md).
_RUN_FLAGS = ["--privileged", "--systemd=false", "--cgroupns=private", "--stop-signal=RTMIN+3",
              "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
              "--tmpfs", "/var/log/journal",
              "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]
# Nodes carry the recipe they were started with: `lab up` on an existing lab says when its nodes
# predate the current one (podman cannot change a running container's flags).
RECIPE_LABEL = "kubemedic.lab.recipe"
RUN_RECIPE = hashlib.sha256(" ".join(_RUN_FLAGS).encode()).hexdigest()[:12]
# The host mounts no net_cls,net_prio, perf_event or hugetlb hierarchy, so a node's cgroup there
# is the hierarchy's root, shared by every node: nested containers create their dirs at its top
# (/system.slice/docker-<id>.scope, /docker/<id>, /<ns>/<id>). Removed with the container, but
# left behind when a node is force-removed while they run: `lab down` removes them (rmdir only).
LEAKY_CONTROLLERS = ("net_cls,net_prio", "perf_event", "hugetlb")
_CGROUP_PATH = re.compile(r"^/[A-Za-z0-9_.:@=+-]+(/[A-Za-z0-9_.:@=+-]+)*$")


@dataclass
class LabNode:
    name: str
    ip: str
    network: str
    role: str  # "cluster" or "outside"


@dataclass
class LabInfo:
    name: str
    subnet: str
    outside_subnet: str
    gateway: str
    image: str
    inventory: str
    ssh_config: str
    key: str
    nodes: list[LabNode] = field(default_factory=list)
    # An offline bundle on this machine (`lab up --bundle`): the lab then runs offline-images.
    bundle: str | None = None
    # `lab up --kubernetes`: an air-gapped real Kubernetes lab (cli/kubemedic/lab/kubernetes.py)
    kubernetes: bool = False
    # Its runtime: docker (dockershim) or containerd (CRI).
    kubernetes_runtime: str = "docker"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    # runc, not crun: crun fails on this kind of host ("cgroups in hybrid mode not supported").
    return subprocess.run(["podman", "--runtime", "runc", *args], check=check, text=True,
                          capture_output=capture)


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise KubemedicUsageError(f"lab name {name!r} is invalid: lower-case letters, digits and "
                                  "'-', starting with a letter, at most 31 characters")
    return name


def networks_for(subnet: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    try:
        cluster = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise KubemedicUsageError(f"--subnet {subnet!r}: {exc}") from exc
    if cluster.version != 4 or not cluster.is_private or cluster.prefixlen > 28:
        raise KubemedicUsageError(f"--subnet {subnet}: use a private IPv4 network of /28 or wider")
    outside = ipaddress.ip_network(f"{cluster.broadcast_address + 1}/{cluster.prefixlen}")
    return cluster, outside


def labels(name: str, env: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """podman --label arguments of lab `name`'s containers and networks."""
    args = ["--label", f"{LABEL}={name}"]
    run = env.get(RUN_ENV, "")
    if run:
        if not _RUN_ID.match(run):
            raise KubemedicUsageError(f"{RUN_ENV}={run!r} is invalid: letters, digits, '.', '_' "
                                      "and '-', starting with a letter or digit, at most 63")
        args += ["--label", f"{RUN_LABEL}={run}"]
    return args


def lab_dir(name: str, state_dir: str | None = None) -> Path:
    return paths.state_dir(state_dir) / "lab" / name


def _containers(name: str) -> list[dict[str, Any]]:
    out = podman("ps", "-a", "--filter", f"label={LABEL}={name}", "--format", "json").stdout
    return json.loads(out or "[]")


def _networks(name: str) -> list[str]:
    out = podman("network", "ls", "--filter", f"label={LABEL}={name}", "--format",
                 "{{.Name}}").stdout
    return [line for line in out.splitlines() if line]


def _ensure_key(directory: Path) -> Path:
    key = directory / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubemedic-lab",
                        "-f", str(key)], check=True)
    return key


def _control_dir(directory: Path) -> Path:
    # Unix socket paths are limited to 108 bytes and ssh appends a 17-byte suffix while creating
    # one, so the control sockets live under a short per-lab folder, not in the state dir.
    short = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:10]
    path = Path("/tmp") / f"kubemedic-ssh-{short}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _write_ssh_config(directory: Path, key: Path, nodes: list[LabNode]) -> Path:
    lines = []
    for node in nodes:
        lines += [f"Host {node.name} {node.ip}", f"  HostName {node.ip}", "  User root",
                  f"  IdentityFile {key}", "  IdentitiesOnly yes",
                  "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
                  "  LogLevel ERROR", "  ControlMaster auto",
                  f"  ControlPath {_control_dir(directory)}/%h", "  ControlPersist 120s", ""]
    config = directory / "ssh_config"
    config.write_text("\n".join(lines))
    return config


def kernel_has_filesystem(name: str, filesystems: Path = Path("/proc/filesystems")) -> bool:
    """Whether the dev-box kernel, which lab nodes share, supports filesystem NAME."""
    try:
        lines = filesystems.read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[-1:] == [name] for line in lines)


def _write_inventory(target: Path, info: LabInfo, extra: dict[str, Any] | None = None) -> None:
    cluster_nodes = [n for n in info.nodes if n.role == "cluster"]
    first = cluster_nodes[0]

    def hosts(names: list[str]) -> dict[str, Any] | None:
        return {n: {} for n in names} or None

    # A Kubernetes lab has one master and the other nodes as workers; the plain lab lists every
    # node as a worker.
    addresses = {n.name: {"ansible_host": n.ip} for n in cluster_nodes}
    addresses[first.name]["first_master"] = True
    if info.kubernetes:
        masters = {first.name: addresses[first.name]}
        workers = {n.name: addresses[n.name] for n in cluster_nodes[1:]}
    else:
        workers, masters = addresses, hosts([first.name])
    inventory = {"all": {"children": {
        "cluster": {"children": {
            "workers": {"hosts": workers},
            "masters": {"hosts": masters},
            "etcd": {"hosts": hosts([first.name])},
            "registry": {"hosts": hosts([first.name])},
            "nfs_server": {"hosts": hosts([first.name])},
            "gpu": {"hosts": None},
            "npu": {"hosts": None},
        }},
        "lab_outside": {"hosts": {n.name: {"ansible_host": n.ip}
                                  for n in info.nodes if n.role == "outside"} or None},
    }}}
    cluster_vars = {
        "cluster_name": info.name,
        "cluster_subnet": info.subnet,
        "cluster_devbox_cidr": f"{info.gateway}/32",
        "cluster_kubernetes_version": "1.28.2",
        "cluster_pod_cidr": "10.244.0.0/16",
        "cluster_service_cidr": "10.96.0.0/12",
        "cluster_registry": f"{first.ip}:5000",
        "cluster_docker_data_root": "/var/lib/docker",
        "cluster_log_max_size": "10m",
        "cluster_log_max_file": 3,
        "cluster_nfs_enabled": True,
        "cluster_container_runtime": "docker",
        # docker with Kubernetes >= 1.24 goes through cri-dockerd (no dockershim); the lab never
        # installs it (kubernetes_node is skipped, its lifecycle test brings its own binaries).
        "cluster_cri_dockerd_package": "cri-dockerd",
        # The nodes' root is podman's overlay: overlay on overlay does not work, so docker uses
        # vfs and containerd the native snapshotter (container_runtime role).
        "cluster_docker_storage_driver": "vfs",
        "cluster_containerd_snapshotter": "native",
        "cluster_shared_kernel": True,
        # The shared kernel has no nfsd: nfs_server configures everything but does not start
        # the kernel server (it fails early on such a kernel unless told so, as here).
        "nfs_server_require_kernel_nfsd": False,
        # Nor an NFS client: with autofs in that kernel, the mounts are systemd automounts
        # (made on first access, so nothing is reported missing). Without autofs (some VM
        # kernels) nfs_client writes plain _netdev mounts, which could only ever be reported
        # missing by doctor here, so the lab declares none; tests that need one add it.
        **({} if kernel_has_filesystem("autofs") else {"nfs_client_mounts": []}),
        # What the lab cannot run (no kubeadm/kubelet, no GPU/NPU, no offline bundle): plain
        # `kubemedic bootstrap -c <lab>` converges everything else.
        # With --bundle, offline-images runs from that bundle (cluster_bundle_dir below).
        "cluster_bootstrap_skip_tags": [*([] if info.bundle else ["offline-images"]),
                                        "nvidia-driver", "ascend-driver",
                                        "nvidia-runtime", "ascend-runtime", "kubernetes-node",
                                        "kubernetes-control-plane", "kubernetes-join"],
        **({"cluster_bundle_dir": info.bundle} if info.bundle else {}),
        "ansible_user": "root",
        "ansible_ssh_private_key_file": info.key,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   "-o LogLevel=ERROR",
        **(extra or {}),
    }
    (target / "group_vars").mkdir(parents=True, exist_ok=True)
    header = (f"# Rehearsal lab {info.name!r}, written by `kubemedic lab up`; "
              "rewritten on every `lab up`, removed by `lab down`.\n")
    (target / "hosts.yml").write_text(header + yaml.safe_dump(inventory, sort_keys=False)
                                      .replace(": null\n", ":\n"))
    (target / "group_vars" / "all.yml").write_text(
        header + "# cluster_shared_kernel: nodes are containers sharing the dev-box kernel, so "
        "roles skip swapoff,\n# non-net sysctls and modprobe (they would change the host).\n"
        + yaml.safe_dump(cluster_vars, sort_keys=False))


def _nat_rules(name: str, cluster: ipaddress.IPv4Network,
               outside: ipaddress.IPv4Network) -> list[list[str]]:
    """Host nat rules that stop masquerading between the lab's two networks.

    Podman masquerades traffic leaving a network, so the cluster would see the outside node as
    the cluster gateway - which is also the dev-box address (cluster_devbox_cidr). Allow/deny
    tests need the outside node's own address, so traffic between the two networks keeps its
    source. Only this lab's subnets are matched.
    """
    comment = ["-m", "comment", "--comment", f"{LABEL}={name}"]
    return [["-s", str(a), "-d", str(b), *comment, "-j", "ACCEPT"]
            for a, b in ((outside, cluster), (cluster, outside))]


def _keep_outside_source(name: str, cluster: ipaddress.IPv4Network,
                         outside: ipaddress.IPv4Network) -> None:
    for rule in _nat_rules(name, cluster, outside):
        present = subprocess.run(["iptables", "-t", "nat", "-C", "POSTROUTING", *rule],
                                 capture_output=True, check=False).returncode == 0
        if not present:
            subprocess.run(["iptables", "-t", "nat", "-I", "POSTROUTING", "1", *rule],
                           capture_output=True, text=True, check=True)


def _drop_nat_rules(name: str) -> None:
    if not shutil.which("iptables"):
        return
    listing = subprocess.run(["iptables", "-t", "nat", "-S", "POSTROUTING"],
                             capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        if f"{LABEL}={name}" in line and line.startswith("-A POSTROUTING "):
            args = line.split()[2:]
            subprocess.run(["iptables", "-t", "nat", "-D", "POSTROUTING",
                            *[a.strip('"') for a in args]], capture_output=True, check=False)


def _wait_for_ssh(nodes: list[LabNode], ssh_config: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        node = pending[0]
        try:
            with socket.create_connection((node.ip, 22), timeout=2):
                pass
            probe = subprocess.run(["ssh", "-F", str(ssh_config), node.name, "true"],
                                   capture_output=True, timeout=15, check=False)
            if probe.returncode == 0:
                pending.pop(0)
                continue
        except (OSError, subprocess.TimeoutExpired):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab node {node.name} ({node.ip}) did not answer ssh in "
                               f"{timeout:.0f}s; see `podman logs {node.name}`")
        time.sleep(1)


def up(name: str, nodes: int = 3, subnet: str = DEFAULT_SUBNET, outside: int = 1,
       inventory_dir: str | None = None, state_dir: str | None = None, log=print,
       bundle: str | None = None, kubernetes: bool = False,
       kubernetes_runtime: str = "docker") -> LabInfo:
    """Start (or complete) the lab. bundle: an offline bundle folder the lab bootstraps from.
    kubernetes=True: an air-gapped lab with an offline bundle of real Kubernetes 1.20.2 (one
    master, the other nodes workers), ready for `bootstrap`."""
    if bundle and kubernetes:
        raise KubemedicUsageError("--bundle and --kubernetes: --kubernetes builds its own bundle; "
                                  "give one of them")
    validate_name(name)
    if kubernetes_runtime not in ("docker", "containerd"):
        raise KubemedicUsageError(f"--kubernetes-runtime {kubernetes_runtime}: use docker or "
                                  "containerd")
    if not 1 <= nodes <= 16:
        raise KubemedicUsageError(f"--nodes {nodes}: use 1 to 16 nodes")
    if not 0 <= outside <= 4:
        raise KubemedicUsageError(f"--outside {outside}: use 0 to 4 outside nodes")
    if kubernetes and (nodes < 2 or outside < 1):
        raise KubemedicUsageError("--kubernetes needs --nodes 2 or more (one master, workers) and "
                                  "--outside 1 or more (the bundle's Debian packages are "
                                  "downloaded on the outside node, the cluster nodes have no "
                                  "internet)")
    cluster_net, outside_net = networks_for(subnet)
    label_args = labels(name)
    existing = _containers(name)
    if existing and len(existing) != nodes + outside:
        raise KubemedicUsageError(f"lab {name!r} already exists with {len(existing)} nodes; "
                                  f"run `kubemedic lab down --name {name}` first")
    directory = lab_dir(name, state_dir)
    if existing and not (directory / "lab.json").is_file():
        # Started from another state dir: its nodes trust another ssh key. Start afresh.
        podman("rm", "-f", "-t", "0", *[c["Names"][0] for c in existing], check=False)
        existing = []
    image = ensure_image(log)
    directory.mkdir(parents=True, exist_ok=True)
    key = _ensure_key(directory)
    hosts = list(cluster_net.hosts())
    gateway = str(hosts[0])
    wanted = [LabNode(f"{name}-node{i + 1}", str(hosts[10 + i]), f"{name}-cluster", "cluster")
              for i in range(nodes)]
    out_hosts = list(outside_net.hosts())
    wanted += [LabNode(f"{name}-outside{i + 1}", str(out_hosts[10 + i]), f"{name}-outside",
                       "outside") for i in range(outside)]
    present = set(_networks(name))
    for net_name, net in ((f"{name}-cluster", cluster_net), (f"{name}-outside", outside_net)):
        if net_name not in present:
            podman("network", "create", "--subnet", str(net), *label_args, net_name)
    if outside:
        _keep_outside_source(name, cluster_net, outside_net)
    by_name = {c["Names"][0]: c for c in existing}
    for node in wanted:
        if node.name in by_name:
            if (by_name[node.name].get("Labels") or {}).get(RECIPE_LABEL) != RUN_RECIPE:
                log(f"{node.name} was started by an older kubemedic (no containers inside it); "
                    f"`kubemedic lab down --name {name}` then `lab up` recreates it")
            if by_name[node.name].get("State") != "running":
                podman("start", node.name)
            continue
        podman("run", "-d", "--name", node.name, "--hostname", node.name,
               *label_args, "--label", f"{RECIPE_LABEL}={RUN_RECIPE}",
               "--network", node.network, "--ip", node.ip,
               *_RUN_FLAGS,
               "-v", f"{key}.pub:/root/.ssh/authorized_keys:ro,Z",
               # No shared apt cache: apt locks its archives folder, so nodes installing at
               # the same time would fail with "Could not get lock .../archives/lock".
               image, "/sbin/init")
    target = paths.inventory_dir(inventory_dir) / name
    info = LabInfo(name=name, subnet=str(cluster_net), outside_subnet=str(outside_net),
                   gateway=gateway, image=image, inventory=str(target),
                   ssh_config=str(directory / "ssh_config"), key=str(key), nodes=wanted,
                   bundle=str(Path(bundle).expanduser().resolve()) if bundle else None,
                   kubernetes=kubernetes, kubernetes_runtime=kubernetes_runtime)
    ssh_config = _write_ssh_config(directory, key, wanted)
    _wait_for_ssh(wanted, ssh_config)
    extra = None
    if kubernetes:
        from kubemedic.lab import kubernetes as kube_lab

        pack = kube_lab.kubernetes_pack(log)
        crictl = (kube_lab.crictl_debs(log),) if kubernetes_runtime == "containerd" else ()
        bundle = kube_lab.make_bundle(info, pack, kube_lab.debian_debs(info, pack, log), log,
                                      crictl)
        kube_lab.airgap(info, log)
        extra = kube_lab.inventory_settings(bundle, kubernetes_runtime)
    _write_inventory(target, info, extra)
    (directory / "lab.json").write_text(json.dumps(info.to_json(), indent=2))
    return info


def status(name: str, state_dir: str | None = None) -> dict[str, Any]:
    validate_name(name)
    nodes = []
    for container in sorted(_containers(name), key=lambda c: c["Names"][0]):
        node = container["Names"][0]
        state = container.get("State", "")
        system = ""
        if state == "running":
            system = podman("exec", node, "systemctl", "is-system-running", check=False).stdout
        nodes.append({"name": node, "state": state, "systemd": system.strip(),
                      "networks": container.get("Networks", [])})
    info_file = lab_dir(name, state_dir) / "lab.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return {"name": name, "exists": bool(nodes), "nodes": nodes,
            "inventory": info.get("inventory"), "ssh_config": info.get("ssh_config"),
            "networks": _networks(name)}


# Run inside a node: "<controller> <path>" for each cgroup dir in the shared hierarchies that
# holds one of the node's own processes (cgroup.procs only lists pids in the reader's pid
# namespace, so another lab's containers never show up here).
_NESTED_CGROUPS_SCRIPT = r"""
for c in "$@"; do
  root=/sys/fs/cgroup/$c
  [ -d "$root" ] || continue
  find "$root" -mindepth 1 -type d 2>/dev/null | while read -r dir; do
    if read -r _ <"$dir/cgroup.procs" 2>/dev/null; then echo "$c ${dir#"$root"}"; fi
  done
done
"""


def mounted_v1_controllers(proc_cgroups: Path = Path("/proc/cgroups")) -> set[str]:
    """Controllers the kernel has attached to a cgroup v1 hierarchy (hierarchy id > 0); the
    others (id 0) are only in cgroup v2 or nowhere, so nested containers cannot leave dirs in
    them."""
    try:
        lines = proc_cgroups.read_text().splitlines()
    except OSError:
        return set()
    return {fields[0] for fields in (line.split() for line in lines if not line.startswith("#"))
            if len(fields) >= 2 and fields[1] != "0"}


def leaky_controllers() -> list[str]:
    """The LEAKY_CONTROLLERS this kernel really has as v1 hierarchies."""
    mounted = mounted_v1_controllers()
    return [c for c in LEAKY_CONTROLLERS if set(c.split(",")) <= mounted]


def nested_cgroups(container: str) -> list[tuple[str, str]]:
    """(controller, path) of the cgroup dirs a running node's nested containers hold at the top of
    the shared hierarchies (LEAKY_CONTROLLERS); [] when the node is not running."""
    result = None
    for _attempt in range(3):
        try:
            result = subprocess.run(["podman", "--runtime", "runc", "exec", container, "sh", "-c",
                                     _NESTED_CGROUPS_SCRIPT, "sh", *LEAKY_CONTROLLERS],
                                    capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            continue
        if result.returncode == 0:
            break
    if result is None or result.returncode != 0:
        return []
    found = []
    for line in result.stdout.splitlines():
        controller, _, path = line.partition(" ")
        if controller in LEAKY_CONTROLLERS and _CGROUP_PATH.match(path) and ".." not in path:
            found.append((controller, path))
    return found


# Run on the host in a private mount namespace (`unshare -m`: the mounts vanish with it): mount
# each hierarchy, rmdir the given dirs (deepest first; a dir still holding a task stays), print
# the ones still there.
_RMDIR_CGROUPS_SCRIPT = r"""
set -u
mnt=$(mktemp -d)
while [ $# -ge 2 ]; do
  c=$1; p=$2; shift 2
  mkdir -p "$mnt/$c"
  mountpoint -q "$mnt/$c" || mount -t cgroup -o "$c" cgroup "$mnt/$c" || { echo "$c $p"; continue; }
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -d "$mnt/$c$p" ] || break
    rmdir "$mnt/$c$p" 2>/dev/null && break
    sleep 0.3
  done
  [ ! -d "$mnt/$c$p" ] || echo "$c $p"
done
for d in "$mnt"/*; do [ -d "$d" ] || continue; umount "$d" 2>/dev/null; rmdir "$d"; done
rmdir "$mnt"
"""


def remove_cgroup_dirs(dirs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """rmdir (never a recursive delete) the given dirs of the shared hierarchies; returns those
    that could not be removed."""
    if not dirs or not shutil.which("unshare"):
        return list(dirs)
    ordered = sorted(set(dirs), key=lambda d: (d[0], -d[1].count("/"), d[1]))
    args = [part for item in ordered for part in item]
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                             _RMDIR_CGROUPS_SCRIPT, "sh", *args],
                            capture_output=True, text=True, timeout=120, check=False)
    left = []
    for line in result.stdout.splitlines():
        controller, _, path = line.partition(" ")
        left.append((controller, path))
    return left


def down(name: str, inventory_dir: str | None = None, state_dir: str | None = None) -> list[str]:
    """Remove the lab's containers, networks, generated inventory and keys. Idempotent."""
    validate_name(name)
    removed = []
    found = _containers(name)
    containers = [c["Names"][0] for c in found]
    # Found before the nodes go (only a running node can say which dirs are its own).
    leaky = [item for c in found if c.get("State") == "running"
             for item in nested_cgroups(c["Names"][0])]
    if containers:
        podman("rm", "-f", "-t", "0", *containers)
        removed += containers
    left = remove_cgroup_dirs(leaky)
    removed += [f"cgroup {c}:{p}" for c, p in leaky if (c, p) not in left]
    _drop_nat_rules(name)
    for network in _networks(name):
        podman("network", "rm", "-f", network)
        removed.append(network)
    directory = lab_dir(name, state_dir)
    info_file = directory / "lab.json"
    inventory = None
    if info_file.is_file():
        inventory = json.loads(info_file.read_text()).get("inventory")
    inventory_path = Path(inventory) if inventory else paths.inventory_dir(inventory_dir) / name
    generated = inventory_path / "hosts.yml"
    if generated.is_file() and "written by `kubemedic lab up`" in generated.read_text():
        shutil.rmtree(inventory_path)
        removed.append(str(inventory_path))
    if directory.is_dir():
        shutil.rmtree(directory)
    return removed
