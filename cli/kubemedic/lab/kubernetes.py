"""`lab up --kubernetes`: the rehearsal lab as an air-gapped site with real Kubernetes 1.20.2.

What an operator receives at a customer site, made on this machine: an offline bundle holding
the kubeadm/kubelet/kubectl .debs and the control-plane image archive `scripts/build-kubernetes`
builds from Debian's source package, plus the Debian packages a fresh node needs for them and
for docker (downloaded once, on the lab's outside node, which keeps its internet route: the
"connected machine" a bundle is made on; cached by content). The cluster nodes then lose their
default route (no internet; the cluster subnet, the dev-box and the pod/service networks stay
reachable) before anything is installed, and the inventory points every role at the bundle.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kubemedic import paths
from kubemedic.errors import KubemedicUsageError

VERSION = "1.20.2"
# Debian packages a fresh lab node needs next to the bundle's kube*.debs: docker (kubelet 1.20
# drives it through dockershim), containerd and runc, the private registry's server, and
# etcdctl (etcd snapshots before a reset, etcd backup/restore), nftables (the firewall role's
# default-deny table) and whatever they and kubelet depend on (conntrack, ebtables, socat,
# containernetworking-plugins...).
DEBIAN_PACKAGES = ("docker.io", "containerd", "runc", "docker-registry", "etcd-client",
                   "nftables")
# Steps of site.yml the air-gapped Kubernetes lab runs; every other role's tag is skipped by a
# plain `kubemedic bootstrap` (they install Debian packages the bundle does not carry, or need
# hardware the lab has not).
BOOTSTRAP_TAGS = ("container-runtime", "registry", "offline-images", "firewall",
                  "kubernetes-node", "kubernetes-control-plane", "kubernetes-join")
Log = Callable[[str], None]
# The lab's runc (files/kubemedic-lab-runc): this kind of host gives no process CAP_SYS_RESOURCE,
# so the negative oom_score_adj kubelet asks for on every pod sandbox (-998) is raised to the
# node's own before the real runc runs; docker uses it as its default runtime in the lab.
LAB_RUNC = Path(__file__).resolve().parent / "files" / "kubemedic-lab-runc"
LAB_RUNC_PATH = "/usr/local/sbin/kubemedic-lab-runc"


def kubernetes_pack(log: Log = print) -> Path:
    """The pack folder of scripts/build-kubernetes (built once per machine, ~15-30 min cold;
    a 0.3 s cache hit after): debs/, images.tar, images.txt, pack.json."""
    script = paths.project_root() / "scripts" / "build-kubernetes"
    if not script.is_file():
        raise KubemedicUsageError(f"{script} not found: --kubernetes needs a kubemedic checkout")
    log("kubernetes: scripts/build-kubernetes (a cache hit once built)")
    result = subprocess.run([str(script)], text=True, stdout=subprocess.PIPE, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"scripts/build-kubernetes failed (exit {result.returncode})")
    pack = Path(lines[-1].strip())
    for name in ("debs", "images.tar", "images.txt", "pack.json"):
        if not (pack / name).exists():
            raise RuntimeError(f"{pack}: no {name} (scripts/build-kubernetes printed this folder)")
    return pack


def crictl_debs(log: Log = print) -> Path:
    """The debs/ folder of scripts/build-crictl (kubemedic-crictl: kubeadm needs a crictl with
    containerd, and cri-tools is not in Debian; built once per machine, a cache hit after)."""
    script = paths.project_root() / "scripts" / "build-crictl"
    log("kubernetes: scripts/build-crictl (a cache hit once built)")
    result = subprocess.run([str(script)], text=True, stdout=subprocess.PIPE, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"scripts/build-crictl failed (exit {result.returncode})")
    debs = Path(lines[-1].strip()) / "debs"
    if not any(debs.glob("*.deb")):
        raise RuntimeError(f"{debs}: no .deb (scripts/build-crictl printed its folder)")
    return debs


def _ssh(ssh_config: str, node: str, command: str, timeout: float = 600,
         check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ssh", "-F", ssh_config, node, command], text=True,
                            capture_output=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{node}: {command!r} exited {result.returncode}: "
                           f"{result.stderr.strip()[-2000:]}")
    return result


def debian_debs(info: Any, pack: Path, log: Log = print) -> Path:
    """Folder of the Debian .debs a fresh node of this lab image needs (cached by image, pack and
    package list): apt resolves them on the outside node with `--download-only`."""
    outside = [n for n in info.nodes if n.role == "outside"]
    key = hashlib.sha256(json.dumps([info.image, pack.name, DEBIAN_PACKAGES]).encode())
    target = paths.cache_dir() / "kubernetes" / "lab-debs" / key.hexdigest()[:16]
    if (target / "DONE").is_file():
        return target
    if not outside:
        raise KubemedicUsageError("--kubernetes needs an outside node (--outside 1 or more): "
                                  "the bundle's Debian packages are downloaded on it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Labs brought up at the same time on a cold cache (the suite's real-cluster modules) share
    # this folder: one resolves, the others wait and reuse it (each removed the others' work
    # folder before: a lab's scp then failed).
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "DONE").is_file():
            return target
        return _resolve_debian_debs(info, pack, target, outside[0].name, log)


def _resolve_debian_debs(info: Any, pack: Path, target: Path, node: str, log: Log) -> Path:
    log(f"kubernetes: resolving the nodes' Debian packages on {node} (apt --download-only)")
    debs = sorted((pack / "debs").glob("*.deb"))
    subprocess.run(["scp", "-q", "-F", info.ssh_config, *map(str, debs), f"{node}:/root/"],
                   check=True, timeout=300)
    _ssh(info.ssh_config, node,
         "export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && "
         "rm -f /var/cache/apt/archives/*.deb && apt-get install -y -qq --download-only "
         "--no-install-recommends " + " ".join(DEBIAN_PACKAGES) + " "
         + " ".join(f"/root/{d.name}" for d in debs) + " >/dev/null")
    work = target.with_name(target.name + ".part")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(["scp", "-q", "-F", info.ssh_config,
                    f"{node}:/var/cache/apt/archives/*.deb", str(work)], check=True, timeout=600)
    if not any(work.glob("*.deb")):
        raise RuntimeError(f"{node}: apt downloaded no package")
    (work / "DONE").write_text("\n".join(DEBIAN_PACKAGES) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


def make_bundle(info: Any, pack: Path, debs: Path, log: Log = print,
                extra_debs: tuple[Path, ...] = ()) -> Path:
    """The lab's offline bundle (`kubemedic bundle create`), in the lab's state folder; rebuilt
    only when the pack or the Debian packages changed. extra_debs: more .deb folders (crictl)."""
    from kubemedic.bundle.create import CreateRequest, create

    bundle = Path(info.ssh_config).parent / "bundle"
    stamp = "".join(f"{folder}\n" for folder in (pack, debs, *extra_debs))
    if (bundle / "bundle.json").is_file() and (bundle / ".kubemedic-lab").is_file() \
            and (bundle / ".kubemedic-lab").read_text() == stamp:
        return bundle
    log(f"kubernetes: offline bundle in {bundle}")
    images = (pack / "images.txt").read_text().split()
    create(CreateRequest(output=bundle, images=images, debs=[pack / "debs", debs, *extra_debs],
                         force=True,
                         images_archive=pack / "images.tar"), log)
    (bundle / ".kubemedic-lab").write_text(stamp)
    return bundle


def airgap(info: Any, log: Log = print) -> None:
    """Remove the cluster nodes' default route: no internet from them any more (the cluster
    subnet, hence the dev-box and the other nodes, stays reachable). Again after a node restart
    (podman sets the route up at start). The lab's outside network keeps a route through the
    dev-box (its gateway): answers to the outside node must find their way back, or every port
    would look closed from outside whatever the firewall does. Also puts the lab's runc on each
    node (LAB_RUNC)."""
    for node in info.nodes:
        if node.role != "cluster":
            continue
        subprocess.run(["scp", "-q", "-F", info.ssh_config, str(LAB_RUNC),
                        f"{node.name}:{LAB_RUNC_PATH}"], check=True, timeout=120)
        _ssh(info.ssh_config, node.name, f"chmod 755 {LAB_RUNC_PATH} && "
             "{ ip route show default | grep -q . && ip route del default || true; } && "
             f"ip route replace {info.outside_subnet} via {info.gateway}")
    log(f"kubernetes: cluster nodes have no default route (air-gapped; {info.outside_subnet}, "
        "the outside network, routed through the dev-box)")


def inventory_settings(bundle: Path, runtime: str = "docker") -> dict[str, Any]:
    """group_vars/all.yml settings of the Kubernetes lab (on top of the plain lab's); runtime:
    docker (dockershim) or containerd (CRI)."""
    containerd = {
        # containerd's runc for Kubernetes is the lab's (LAB_RUNC), as docker's below.
        "container_runtime_containerd_runc_binary": LAB_RUNC_PATH,
        # kubeadm needs a crictl with containerd: scripts/build-crictl's, in the bundle.
        "cluster_crictl_package": "kubemedic-crictl",
    } if runtime == "containerd" else {}
    return {
        "cluster_kubernetes_version": VERSION,
        "cluster_container_runtime": runtime,
        **containerd,
        "cluster_bundle_dir": str(bundle),
        # Every package and image comes from the bundle.
        "container_runtime_docker_source": "offline",
        # No negative oom_score_adj on this kind of host (LAB_RUNC above).
        "container_runtime_daemon_extra": {
            "runtimes": {"kubemedic-lab": {"path": LAB_RUNC_PATH}},
            "default-runtime": "kubemedic-lab"},
        "kubernetes_node_source": "offline",
        # Debian's Kubernetes source has no CoreDNS, and kube-proxy's DaemonSet is privileged:
        # docker's --privileged asks for every capability, and this machine's kernel gives no
        # process CAP_SYS_RESOURCE (docs/lab.md "Containers inside nodes"). With containerd the
        # same: the bridge CNI's routes serve the pod network, no Service proxy is rehearsed.
        "kubernetes_control_plane_skip_phases": ["addon/coredns", "addon/kube-proxy"],
        # Pod network: the bridge CNI plugin with host-local addresses from each node's pod CIDR,
        # and routes between the nodes' pod CIDRs (no CNI manifest).
        "kubernetes_control_plane_cni_manifest": "",
        "kubernetes_join_cni_bridge": True,
        # The control plane's static pods take longer than kubeadm's 4 minutes to answer on 2
        # cores shared with other labs (measured: ~5 min at load 35).
        "kubernetes_control_plane_timeout_for_control_plane": "15m0s",
        # and as long for the API server of an init that stopped half-way (init.yml).
        "kubernetes_control_plane_api_timeout": 900,
        # and for recover after-reboot's wait for the API server once kubelet restarted.
        "kubernetes_node_api_timeout": 900,
        # The nodes share the dev-box kernel: kubeadm's kernel-config check cannot read its
        # config (no /boot or /proc/config.gz in a node).
        "kubernetes_control_plane_ignore_preflight_errors": ["SystemVerification"],
        "kubernetes_join_ignore_preflight_errors": ["SystemVerification"],
        "cluster_bootstrap_skip_tags": [t for t in site_play_tags() if t not in BOOTSTRAP_TAGS],
    }


def site_play_tags() -> list[str]:
    """The play tags of playbooks/site.yml (one per role), in order."""
    plays = yaml.safe_load((paths.project_root() / "playbooks" / "site.yml").read_text()) or []
    return [tag for play in plays if isinstance(play, dict) for tag in play.get("tags") or []]
