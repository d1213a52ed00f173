"""Turn one node's probe (plugins/modules/kubemedic_doctor_probe.py) into doctor findings.

Pure Python: runs on the controller inside the doctor play (filter `kubemedic_doctor_findings`)
so plain ansible-playbook/AWX runs produce the same findings as `kubemedic doctor`.

A finding: host, check, severity (critical|warning|info), evidence (the value or log line),
message, step (a `kubemedic recover` step or null), command (the exact command that repairs it,
rendered by `render_command`: `kubemedic recover <step> -c <customer> --limit <host> [-e k=v]`,
or the documented `kubemedic bootstrap|heal|images ...` fix when no recovery step applies),
caused_by (the check of the finding that explains this one, on the same host) and explains (the
checks this one explains). Causes are listed first, their symptoms folded under them (`order`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubemedic.doctor import cluster, kb, security
from kubemedic.heal import xid

# What evaluate() needs from its caller, every one: the doctor role passes them (its tasks/main.yml,
# values from roles/doctor/defaults/main.yml, the one place thresholds are defined).
SETTINGS: tuple[str, ...] = (
    "customer", "groups", "accelerator",
    "disk_warn_pct", "disk_crit_pct", "inode_warn_pct", "inode_crit_pct",
    "registry_storage_dir",            # registry nodes: its space is registry-gc's (else "")
    "expected_versions",               # package -> version prefix (docker.io, containerd, kubelet)
    "containerd_min_version", "inotify_min_instances", "inotify_min_watches",
    "cluster_subnet", "shared_kernel",
    "pause_image_regex",               # some image matching it must be present
    "kubeadm_images",                  # name:tag, every one expected (masters running kubelet)
    "docker_log_max_bytes", "npu_collector_process", "check_nvidia_runtime",
    "check_ascend_runtime",
    "mysql_backup_max_age_hours",      # a running MySQL/MariaDB needs a dump at least this new
    "kb",
    "skip_checks",                     # check names (shell patterns) not reported
    "container_runtime",               # what kubelet talks to (kubemedic_container_runtime)
    "first_master",                    # where kubectl runs (kubemedic_first_master)
    "node_name",                       # the host's Kubernetes node name
    "pod_restart_warn",                # restarts within a pod's life reported as a warning
    "cert_warn_days", "cert_crit_days",  # kubeadm certificates expiring within
    "window_minutes",                  # events older than this are history
    "grafana_url",                     # grafana's right URL (portal_grafana_url; "" = unknown)
    "job_scripts_configmap",           # the platform's job scripts ConfigMap (NPU logs)
    "job_services",                    # the platform's job services, NS/DEPLOYMENT (seed 000 #12)
    "security_trusted_cidrs",          # the cluster's own networks (security checks, issue 20)
    "device_resources",                # group -> device plugin resources (shell patterns)
)

# Bootstrap tags named by doctor's fixes (playbooks/site.yml; tests/unit/test_doctor_commands.py
# checks each exists there).
TAG_CONTAINER_RUNTIME = "container-runtime"
TAG_NVIDIA_RUNTIME = "nvidia-runtime"
TAG_CONTROL_PLANE = "kubernetes-control-plane"
TAG_JOIN = "kubernetes-join"
TAG_NODE = "kubernetes-node"
# The bootstrap tag installing each service / package doctor checks.
INSTALLED_BY = {"docker": TAG_CONTAINER_RUNTIME, "containerd": TAG_CONTAINER_RUNTIME,
                "docker.io": TAG_CONTAINER_RUNTIME, "docker-ce": TAG_CONTAINER_RUNTIME,
                "containerd.io": TAG_CONTAINER_RUNTIME, "kubelet": TAG_NODE, "kubeadm": TAG_NODE,
                "kubectl": TAG_NODE}
BOOTSTRAP_FIX = "kubemedic bootstrap -c {customer} --tags %s --limit {host}"

# Recovery steps whose play runs kubectl on the first master only (playbooks/recover.yml: hosts
# masters, `when: inventory_hostname == kubemedic_first_master`): their command is limited to
# the first master whatever node the finding concerns. Kept in sync with recover.yml by a test.
FIRST_MASTER_STEPS = frozenset({"probe-timeout", "npu-log-configmap"})
# Variables a step cannot run without (its tasks assert them); without them doctor prints no
# command (it would fail) but says in the message what to pass.
STEP_REQUIRED_VARS = {"probe-timeout": ("kube_api_probe_namespace", "kube_api_probe_deployment")}
# Steps of the whole cluster, whose command has no --limit: job-path checks and repairs every
# node at once; master-ip-change rebuilds it (every node is reset and joins again: a partial run
# would leave the other nodes pointing at the old cluster).
CLUSTER_STEPS = frozenset({"job-path", "master-ip-change"})
# Steps that repair a host service or, given this variable, a Kubernetes workload with kubectl on
# the first master (their command is then limited to it).
FIRST_MASTER_WHEN = {"nginx-restart": "nginx_pod_deployment"}
# Services only some hosts run, and the step repairing each (not installed = nothing to say).
SERVICE_STEPS = {"nginx": "nginx-restart"}
# Containers of the web portal (seed 000 #11: the platform's nginx runs as a pod on the master).
PORTAL_CONTAINERS = frozenset({"nginx"})
# Signatures whose cause is "nothing answers on the API port": history when kubectl on the first
# master read the cluster in this same run. Every control-plane restart (kubeadm init, recover
# certs-renew) leaves such lines in the master's kubelet journal and probe-failure events on the
# apiserver pod; a node that really cannot reach the API is reported NotReady (node-ready).
API_DOWN_SIGNATURES = frozenset({"apiserver-refused"})
API_ANSWERS_NOW = ("; kubectl on the first master reads the cluster now: history (the control "
                   "plane restarted), no repair needed")
# A line that says only that the API port did not answer (a refusal, or a timeout while the
# master was down or rebooting) is history on the same terms, whichever signature it matched:
# apiserver-cert-wrong-ip's weak `i/o timeout` pattern named master-ip-change (a rebuild) on a
# worker whose master had just rebooted (the real containerd cluster's after-reboot drill).
API_PORT_SILENT = re.compile(r"dial tcp \S+:6443: (connect: connection refused|i/o timeout)")
# containerd restarted (a config or CNI change does it) leaves kubelet's failed dials to its
# socket in the journal: history while containerd runs and the node is Ready (kubelet talks to
# it), seen after every join on the real containerd cluster.
RUNTIME_DOWN_SIGNATURES = frozenset({"containerd-cri-unavailable"})
RUNTIME_RUNS_NOW = ("; the runtime runs now and the node is Ready: history (the runtime "
                    "restarted), no repair needed")


@dataclass
class Finding:
    host: str
    check: str
    severity: str
    evidence: str
    message: str
    step: str | None = None
    command: str | None = None
    caused_by: str | None = None
    explains: list[str] = field(default_factory=list)
    subject: str | None = None  # the Kubernetes object (namespace/pod) a cluster finding is about

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "check": self.check, "severity": self.severity,
                "evidence": self.evidence, "message": self.message, "step": self.step,
                "command": self.command, "caused_by": self.caused_by,
                "explains": list(self.explains), "subject": self.subject}


def render_command(step: str | None, fix: str | None, customer: str, host: str,
                   first_master: str = "", extravars: dict[str, Any] | None = None
                   ) -> str | None:
    """The one way a repair is written, for doctor's findings and for `kubemedic explain`.

    step: `kubemedic recover STEP -c CUSTOMER --limit HOST [-e key=value ...]`, limited to the
    first master for steps that run kubectl there, not limited for steps of the whole cluster
    (CLUSTER_STEPS); None when a variable the step needs is not known. fix: a signature's or
    check's `kubemedic ...` command with {customer} and {host}.
    """
    extravars = dict(extravars or {})
    if step:
        if any(not extravars.get(key) for key in STEP_REQUIRED_VARS.get(step, ())):
            return None
        on_master = step in FIRST_MASTER_STEPS or bool(extravars.get(FIRST_MASTER_WHEN.get(step, "")))
        where = (first_master or host) if on_master else host
        parts = ["kubemedic", "recover", step, "-c", customer]
        if step not in CLUSTER_STEPS:
            parts += ["--limit", where]
        for key, value in extravars.items():
            parts += ["-e", f"{key}={value}"]
        return shlex.join(parts)
    if fix:
        return fix.format(customer=customer, host=host)
    return None


def recover_command(step: str, customer: str, host: str) -> str:
    return f"kubemedic recover {step} -c {customer} --limit {host}"


@dataclass
class _Ctx:
    host: str
    settings: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, severity: str, evidence: Any, message: str,
            step: str | None = None, fix: str | None = None,
            extravars: dict[str, Any] | None = None, subject: str | None = None) -> None:
        s = self.settings
        command = render_command(step, fix, s["customer"], self.host, s["first_master"],
                                 extravars)
        if step and command is None:
            needed = " ".join(f"-e {key}=..." for key in STEP_REQUIRED_VARS.get(step, ()))
            message = f"{message} (repair: recover {step} needs {needed}; not named here)"
        self.findings.append(Finding(self.host, check, severity, str(evidence), message, step,
                                     command, subject=subject))


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _check_registry_storage(ctx: _Ctx, info: dict[str, Any]) -> None:
    """The registry's own storage full: deleted images free nothing until garbage-collect."""
    s = ctx.settings
    value = info.get("used_pct", 0)
    if value < s["disk_warn_pct"]:
        return
    severity = "critical" if value >= s["disk_crit_pct"] else "warning"
    ctx.add("registry-storage", severity, f"{s['registry_storage_dir']}: {value}% used",
            f"the private registry's storage is {value}% full (limit {s['disk_warn_pct']}%): "
            "pushes fail; blobs of deleted images stay until garbage-collect (seed 001)",
            step="registry-gc")


def _check_disks(ctx: _Ctx, probe: dict[str, Any]) -> None:
    s = ctx.settings
    seen_devices: set[Any] = set()
    for path, info in (probe.get("disks") or {}).items():
        if not info.get("exists"):
            continue
        if path == s.get("registry_storage_dir"):
            _check_registry_storage(ctx, info)
            continue
        # /var/lib/docker on the root filesystem is reported once, as the first path listed.
        if info.get("device") in seen_devices and path != "/":
            continue
        seen_devices.add(info.get("device"))
        for kind, value, warn, crit in (
                ("disk", info.get("used_pct", 0), s["disk_warn_pct"], s["disk_crit_pct"]),
                ("inodes", info.get("inode_used_pct", 0), s["inode_warn_pct"],
                 s["inode_crit_pct"])):
            if value >= crit:
                severity = "critical"
            elif value >= warn:
                severity = "warning"
            else:
                continue
            limit = crit if severity == "critical" else warn
            ctx.add(f"{kind}-usage", severity, f"{path}: {value}% used",
                    f"{kind} use of the filesystem holding {path} is {value}% (limit {limit}%); "
                    "a full system disk took the platform down 5 times (seed 000)",
                    step="disk-cleanup")


def _check_swap(ctx: _Ctx, probe: dict[str, Any]) -> None:
    kubelet = (probe.get("services") or {}).get("kubelet", {})
    swaps = probe.get("swap") or []
    if swaps and ctx.settings["shared_kernel"]:
        ctx.add("swap", "info", ", ".join(swaps), "swap is on (shared lab kernel: host state, "
                "not changed by kubemedic)")
    elif swaps:
        ctx.add("swap", "critical" if kubelet.get("installed") else "warning", ", ".join(swaps),
                "swap is on: kubelet refuses to run (`running with swap on is not supported`)",
                step="after-reboot")
    for line in probe.get("fstab_swap") or []:
        ctx.add("swap-fstab", "warning", f"/etc/fstab: {line}",
                "swap is enabled in /etc/fstab: it comes back on at the next reboot and kubelet "
                "stops (seed 001)", fix=BOOTSTRAP_FIX % "swap")


RUNTIME_UNITS = ("docker", "containerd")


def _check_ntp(ctx: _Ctx, probe: dict[str, Any]) -> None:
    ntp = probe.get("ntp") or {}
    if ntp.get("known") and not ntp.get("synchronized"):
        ctx.add("ntp", "warning", f"NTPSynchronized=no (NTP service "
                f"{'on' if ntp.get('ntp_service') else 'off'})",
                "the clock is not NTP-synchronised: certificates and etcd misbehave with skew",
                fix=BOOTSTRAP_FIX % "ntp")


def _check_services(ctx: _Ctx, probe: dict[str, Any]) -> None:
    services = probe.get("services") or {}
    for name, info in services.items():
        if name in SERVICE_STEPS and not info.get("installed"):
            continue  # a service only some hosts run (the portal's nginx)
        if name in SERVICE_STEPS and not info.get("active"):
            step = SERVICE_STEPS[name]
            ctx.add(f"{name}-active", "critical", f"{name}: {info.get('state')}",
                    f"{name} is installed but not running (seed 000 #11: the portal is down "
                    "after the master rebooted)", step=step)
        elif not info.get("installed"):
            ctx.add(f"{name}-installed", "info", f"{name}: not installed",
                    f"{name} is not installed (not bootstrapped yet?)",
                    fix=BOOTSTRAP_FIX % INSTALLED_BY.get(name, TAG_CONTAINER_RUNTIME))
        elif not info.get("active") and name in RUNTIME_UNITS:
            ctx.add(f"{name}-active", "critical", f"{name}: {info.get('state')}",
                    f"{name} is installed but not running: no container can start",
                    fix=BOOTSTRAP_FIX % TAG_CONTAINER_RUNTIME)
        elif not info.get("active"):
            ctx.add(f"{name}-active", "critical", f"{name}: {info.get('state')}",
                    f"{name} is installed but not running (after a reboot: swap back on, mounts "
                    "missing)", step="after-reboot")
    versions = probe.get("versions") or {}
    for package, expected in (ctx.settings["expected_versions"] or {}).items():
        if not expected or package not in versions:
            continue
        if not str(versions[package]).startswith(str(expected)):
            step = {"docker.io": "docker-reinstall", "docker-ce": "docker-reinstall",
                    "containerd": "containerd-upgrade", "containerd.io": "containerd-upgrade"}
            ctx.add("version-drift", "warning", f"{package} {versions[package]} "
                    f"(inventory: {expected})", f"{package} drifted from the pinned version",
                    step=step.get(package),
                    fix=BOOTSTRAP_FIX % INSTALLED_BY.get(package, TAG_CONTAINER_RUNTIME))
    containerd = versions.get("containerd-binary") or versions.get("containerd") \
        or versions.get("containerd.io")
    minimum = ctx.settings["containerd_min_version"]
    if containerd and _version_tuple(containerd) < _version_tuple(minimum):
        ctx.add("containerd-version", "critical", f"containerd {containerd}",
                f"containerd older than {minimum}: containerd-shim panics on exec and kills "
                "containers with 137 (seed 004)", step="containerd-upgrade")


def _check_containerd_config(ctx: _Ctx, probe: dict[str, Any]) -> None:
    conf = probe.get("containerd_config") or {}
    if conf.get("error"):
        ctx.add("containerd-config", "critical", f"{conf.get('path')}: {conf['error']}",
                f"containerd's config does not parse ({conf.get('checked_with')}): containerd "
                "cannot start, nor docker on top of it; bootstrap rewrites it from kubemedic's "
                "template (the broken file kept as a backup next to it)",
                fix=BOOTSTRAP_FIX % TAG_CONTAINER_RUNTIME)


def _check_docker(ctx: _Ctx, probe: dict[str, Any]) -> None:
    docker = probe.get("docker") or {}
    s = ctx.settings
    if docker.get("daemon_json_error"):
        sig = kb.by_id("docker-daemon-json-invalid")
        ctx.add("docker-daemon-json", "critical", f"/etc/docker/daemon.json: "
                f"{docker['daemon_json_error']}", "daemon.json is not valid JSON; dockerd "
                "cannot start", step=sig.step, fix=sig.fix)
    gpu = s["accelerator"] == "nvidia" or "gpu" in s["groups"]
    if gpu and s["check_nvidia_runtime"] and docker.get("default_runtime") != "nvidia":
        ctx.add("nvidia-default-runtime", "critical",
                f"default runtime: {docker.get('default_runtime') or 'runc (unset)'}",
                "docker's default runtime is not nvidia on a GPU node: containers fail with "
                '`exec: "nvidia-smi": executable file not found`',
                fix=BOOTSTRAP_FIX % TAG_NVIDIA_RUNTIME)
    npu = s["accelerator"] == "ascend" or "npu" in s["groups"]
    if npu and s["check_ascend_runtime"] and docker.get("default_runtime") != "ascend":
        ctx.add("ascend-default-runtime", "critical",
                f"default runtime: {docker.get('default_runtime') or 'runc (unset)'}",
                "docker's default runtime is not ascend on an NPU node: the Ascend Docker "
                "Runtime's hook does not mount /dev/davinci*, the driver and npu-smi into "
                "containers", step="ascend-runtime")
    for item in probe.get("big_logs") or []:
        ctx.add("container-log-size", "warning", f"{item['path']}: {item['bytes']} bytes",
                f"a container log is above the {s['docker_log_max_bytes']} byte limit "
                "(log rotation not applied to this container)", step="disk-cleanup")
    # kubelet's runtime's images: on containerd the CRI's (k8s.io namespace), which docker,
    # installed there too, does not list (every containerd node was reported without pause)
    containerd = s["container_runtime"] == "containerd"
    images = probe.get("containerd_images") if containerd else docker.get("images")
    if images is None:
        return  # the runtime not running: reported by the service check
    where = "in containerd's k8s.io namespace" if containerd else "in docker"
    if s["pause_image_regex"] and not any(re.search(s["pause_image_regex"], image)
                                          for image in images):
        ctx.add("pause-image", "critical", f"no image matches {s['pause_image_regex']!r} "
                f"({len(images)} images {where})",
                "the pause (sandbox) image is missing: no pod can start on this node",
                step="pause-image")
    kubelet = (probe.get("services") or {}).get("kubelet", {})
    missing = [want for want in s["kubeadm_images"] if not any(
        image == want or image.endswith("/" + want) for image in images)]
    if missing and kubelet.get("installed"):
        ctx.add("kubeadm-images", "warning", ", ".join(missing),
                "kubeadm images are missing: kubeadm would try the internet (k8s.gcr.io)",
                fix="kubemedic images load -c {customer} --limit {host}")


def _check_kubeadm(ctx: _Ctx, probe: dict[str, Any]) -> None:
    """The node's kubeadm state against the node itself and the cluster (kubectl's first master)."""
    state = probe.get("kubeadm") or {}
    advertise, addresses = state.get("apiserver_advertise"), state.get("addresses")
    if advertise and addresses is not None and advertise not in addresses:
        # Seed 001: the master's IP changed. etcd listens on the old address and cannot start,
        # the certificates and every kubeconfig name it: the cluster is rebuilt.
        ctx.add("apiserver-address", "critical", f"kube-apiserver --advertise-address={advertise}"
                f"; this node's addresses: {', '.join(addresses) or 'none'}",
                "the master's IP address changed: its API server, etcd, certificates and the "
                "nodes' kubeconfigs still use the old one (etcd cannot listen there, the API is "
                "down); rebuild the cluster for the new address, with the new address in the "
                "inventory first (seed 001)", step="master-ip-change")
    mine, cluster_ca = state.get("ca_sha256"), (probe.get("cluster") or {}).get("ca_sha256")
    if (mine and cluster_ca and mine != cluster_ca and ctx.host != ctx.settings["first_master"]
            and _kubernetes_node(ctx)):
        # A node joined to a cluster that was since re-initialised without it (a reset --reinit
        # while it was down or outside --limit): kubelet's certificates are signed by the old CA.
        ctx.add("kubeadm-cluster-ca", "critical",
                f"/etc/kubernetes/pki/ca.crt sha256 {mine[:16]}..., the first master's "
                f"{cluster_ca[:16]}...",
                "this node belongs to another (older) cluster: its kubeadm state trusts a CA "
                "that is not the first master's, so kubelet cannot register (`x509: certificate "
                "signed by unknown authority`) and a join skips it (kubelet.conf exists); reset "
                "it (backups first) and join it again", step="kube-reset",
                extravars={"kubernetes_reset_reinit": "true"})


def _check_nfs(ctx: _Ctx, probe: dict[str, Any]) -> None:
    for entry in probe.get("fstab_nfs") or []:
        if not entry.get("mounted") and not entry.get("noauto"):
            ctx.add("nfs-mount", "critical", entry.get("line"),
                    f"NFS {entry['source']} is in /etc/fstab but not mounted on "
                    f"{entry['target']}", step="nfs-remount")


def _subnet_forms(cidr: str) -> list[str]:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return []
    forms = [str(net), f"{net.network_address}/{net.netmask}"]
    octets = str(net.network_address).split(".")
    if net.prefixlen % 8 == 0 and net.version == 4:
        forms.append(".".join(octets[:net.prefixlen // 8]) + ".")
    return forms


def _check_tcp_wrappers(ctx: _Ctx, probe: dict[str, Any]) -> None:
    wrappers = probe.get("tcp_wrappers") or {}
    allow = wrappers.get("hosts.allow") or []
    deny = wrappers.get("hosts.deny") or []
    seen: dict[str, int] = {}
    for number, line in allow:
        key = re.sub(r"\s+", "", line)
        if key in seen:
            ctx.add("hosts-allow-duplicate", "warning", f"/etc/hosts.allow:{number}: {line}",
                    f"duplicate rule (same as line {seen[key]}): tcp-wrappers behaviour is "
                    "undefined with duplicates (seed 000 #6)", step="hosts-allow")
        else:
            seen[key] = number
    restricted = [line for _n, line in deny if "ALL" in line.split(":", 1)[-1].upper()]
    forms = _subnet_forms(ctx.settings["cluster_subnet"])
    if restricted and forms:
        admitted = [line for _n, line in allow if any(form in line for form in forms)
                    or re.search(r":\s*ALL\b", line, re.IGNORECASE)]
        if not admitted:
            ctx.add("hosts-allow-subnet", "critical", f"hosts.deny: {restricted[0]}",
                    f"/etc/hosts.deny refuses everyone but /etc/hosts.allow does not admit the "
                    f"cluster subnet {ctx.settings['cluster_subnet']}: NFS mounts are refused",
                    step="hosts-allow")


def _check_kernel(ctx: _Ctx, probe: dict[str, Any]) -> None:
    s = ctx.settings
    # Live values; on the shared-kernel lab they are the host's, so the values the node's own
    # sysctl files set at boot are judged instead.
    persisted = (probe.get("sysctl_persisted") or {}).get("values") or {}
    where = (probe.get("sysctl_persisted") or {}).get("where") or {}
    live = probe.get("inotify") or {}
    low = []
    for key, minimum in (("max_user_instances", s["inotify_min_instances"]),
                         ("max_user_watches", s["inotify_min_watches"])):
        name = f"fs.inotify.{key}"
        if s["shared_kernel"]:
            value = persisted.get(name)
            if value is not None and str(value).isdigit() and int(value) < minimum:
                low.append(f"{name}={value} ({where.get(name)})")
        elif (live.get(key) or 0) < minimum:
            low.append(f"{name}={live.get(key)}")
        elif str(persisted.get(name) or "").isdigit() and int(persisted[name]) < minimum:
            low.append(f"{name}={persisted[name]} at the next boot ({where.get(name)})")
    if low:
        ctx.add("inotify-limits", "warning", ", ".join(low),
                f"inotify limits below {s['inotify_min_instances']}/{s['inotify_min_watches']}: "
                "`Too many open files` / `Failed to allocate directory watch`",
                step="inotify-limits")
    kernel = probe.get("kernel") or {}
    accel = s["accelerator"]
    if accel in ("nvidia", "ascend"):
        have = (kernel.get("accelerator_modules") or {}).get(accel)
        if have is not None and not have:
            ctx.add("accelerator-modules", "critical", f"kernel {kernel.get('release')}: no "
                    f"{accel} modules", f"the running kernel has no {accel} driver modules "
                    "(kernel upgraded without rebuilding the driver?)", step="kernel-driver")
    if accel == "ascend" and not kernel.get("devdrv_class"):
        ctx.add("npu-devdrv-class", "critical",
                f"{kernel.get('devdrv_class_path')}: missing",
                "the Ascend driver is not loaded: the NPU device plugin fails (seed 000 #4)",
                step="kernel-driver")
    if accel == "ascend":
        pids = (probe.get("processes") or {}).get(s["npu_collector_process"])
        if pids is not None and not pids:
            ctx.add("npu-collector", "warning", "npu_info_gen.py: no process",
                    "the NPU information collector is not running (seed 000 #7)",
                    step="npu-collector")


def _check_nics(ctx: _Ctx, probe: dict[str, Any]) -> None:
    for name, info in (probe.get("nics") or {}).items():
        if not info.get("exists"):
            ctx.add("nic", "warning", f"{name}: no such interface",
                    f"NIC {name} listed in doctor_nics does not exist")
            continue
        down = info.get("operstate") == "down" or info.get("carrier") == "0" \
            or info.get("link") is False
        if down:
            ctx.add("nic-link", "critical", f"{name}: operstate={info.get('operstate')} "
                    f"carrier={info.get('carrier')}", f"NIC {name} has no link "
                    "(after power cycles: autonegotiation off, seed 000 #3)", step="nic-autoneg")
        if info.get("autoneg") is False:
            ctx.add("nic-autoneg", "warning", f"{name}: Auto-negotiation: off "
                    f"(speed {info.get('speed')})", f"autonegotiation is off on {name}",
                    step="nic-autoneg")


def _check_peers(ctx: _Ctx, probe: dict[str, Any]) -> None:
    """Seed 000 #10: after `netplan apply` did not take, the nodes could not reach each other.
    A host that misses more than half of its peers has the broken network config; fewer missing
    peers among reachable ones are those peers' problem (their own probe says so)."""
    peers = probe.get("peers") or {}
    checked, down = int(peers.get("checked") or 0), peers.get("unreachable") or {}
    if not checked or not down:
        return
    evidence = "; ".join(f"{name}: {why}" for name, why in sorted(down.items()))[:400]
    if len(down) * 2 > checked:
        ctx.add("peers-unreachable", "critical", evidence,
                f"this node reaches {checked - len(down)} of its {checked} peers: its network "
                "config is not in effect (seed 000 #10, `netplan apply` did not take)",
                step="network-reapply")
    else:
        ctx.add("peer-unreachable", "warning", evidence,
                f"{', '.join(sorted(down))} cannot be reached from here while the other peers can")


def _check_portal(ctx: _Ctx, probe: dict[str, Any]) -> None:
    """Seed 000 #13: grafana in the portal shows 502: its address in local.yaml is wrong."""
    wanted = str(ctx.settings["grafana_url"] or "")
    for path, entry in sorted((probe.get("portal") or {}).items()):
        url = entry.get("grafana") or ""
        if wanted and url.rstrip("/") != wanted.rstrip("/"):
            ctx.add("grafana-address", "critical", f"{path}: grafana {url} (inventory: {wanted})",
                    "the portal proxies grafana to the wrong address: its panel shows 502 "
                    "(seed 000 #13)", step="grafana-address")
        elif not entry.get("reachable"):
            if wanted:
                message = ("grafana does not answer at the right address: grafana itself is "
                           "down (not the portal's config)")
            else:
                message = ("the portal's grafana panel will show 502; if the address is wrong, "
                           "set portal_grafana_url in the inventory and doctor names "
                           "`recover grafana-address`")
            ctx.add("grafana-unreachable", "warning", f"{path}: {url}: {entry.get('error')}",
                    message)


def _check_apt(ctx: _Ctx, probe: dict[str, Any]) -> None:
    for item in probe.get("apt_sources") or []:
        if item.get("problem"):
            ctx.add("apt-sources", "warning", f"{item['file']}:{item['line_no']}: {item['line']}",
                    f"broken apt source ({item['problem']}): apt fails with gpg/NO_PUBKEY "
                    "errors", step="apt-sources-fix")


def _check_mysql_backup(ctx: _Ctx, probe: dict[str, Any]) -> None:
    mysql = probe.get("mysql") or {}
    if not mysql.get("running") or not mysql.get("dirs"):
        return
    age, limit = mysql.get("newest_age_hours"), ctx.settings["mysql_backup_max_age_hours"]
    if age is None or age > limit:
        where = ", ".join(mysql["dirs"])
        ctx.add("mysql-backup", "warning",
                f"no dump in {where}" if age is None else f"newest dump in {where}: {age} h old",
                f"MySQL/MariaDB runs here without a backup newer than {limit} h (seed 000 #17)",
                step="mysql-backup")


_KUBELET_POD = (re.compile(r'\bpod="(?P<ns>[a-z0-9.-]+)/(?P<pod>[a-z0-9.-]+)"'),
                re.compile(r'probe for "(?P<pod>[a-z0-9.-]+)_(?P<ns>[a-z0-9.-]+)\('))


def _pod_vars(ref: cluster.PodRef | None) -> tuple[dict[str, str], str]:
    """-e variables of the probe-timeout step for the pod's Deployment, and a note on rook."""
    if ref is None or not ref.deployment:
        return {}, ""
    note = ""
    if ref.object_store:
        note = (f"; the rook operator owns this deployment (CephObjectStore {ref.object_store} "
                f"in {ref.namespace}) and puts a patched probe back: the step sets the "
                "CephObjectStore's spec.healthCheck.livenessProbe instead")
    return {"kube_api_probe_namespace": ref.namespace,
            "kube_api_probe_deployment": ref.deployment}, note


def _log_pod(probe: dict[str, Any], text: str) -> cluster.PodRef | None:
    """The pod a kubelet log line names, resolved through the cluster's pods when read."""
    for pattern in _KUBELET_POD:
        match = pattern.search(text)
        if match:
            known = cluster.pods_by_key((probe.get("cluster") or {}).get("pods")).get(
                (match.group("ns"), match.group("pod")))
            return (cluster.pod_ref(known) if known
                    else cluster.guess_ref(match.group("ns"), match.group("pod")))
    return None


def _add_signature(ctx: _Ctx, check: str, match: kb.Match, message: str,
                   ref: cluster.PodRef | None = None, severity: str | None = None,
                   subject: str | None = None) -> None:
    sig = match.signature
    extravars, note = _pod_vars(ref) if sig.step in STEP_REQUIRED_VARS else ({}, "")
    if sig.step == "nginx-restart" and ref is not None and ref.deployment:
        extravars = {"nginx_pod_namespace": ref.namespace, "nginx_pod_deployment": ref.deployment}
    ctx.add(check, severity or sig.severity, match.evidence, message + note, step=sig.step,
            fix=sig.fix, extravars=extravars,
            subject=subject or (_subject(ref) if check[:4] != "log:" else None))


def _container_log_pod(origins: list[list[Any]], pods: dict[tuple[str, str], dict[str, Any]],
                       line: int) -> tuple[str, dict[str, Any] | None]:
    """Which pod a line of the container logs comes from ("namespace/pod", "" for none; origins:
    the probe's container_origins) and that pod as the cluster lists it (None when it is not
    listed or is being deleted)."""
    origin = ""
    for start, where in origins:
        if start > line:
            break
        origin = where
    if origin.count("/") != 2:
        return "", None
    namespace, pod, _container = origin.split("/")
    listed = pods.get((namespace, pod))
    return f"{namespace}/{pod}", None if listed is None or cluster.being_deleted(listed) else listed


def _subject(ref: cluster.PodRef | None) -> str | None:
    return f"{ref.namespace}/{ref.name}" if ref else None


def _check_logs(ctx: _Ctx, probe: dict[str, Any]) -> None:
    if not ctx.settings["kb"]:
        return
    logs = probe.get("logs") or {}
    view = probe.get("cluster") or {}
    api_answers = bool(view.get("available"))
    runtime_fine = api_answers and _runtime_runs_and_node_ready(ctx, probe, view)
    pods_read = cluster.pods_read(view)
    pods = cluster.pods_by_key(view.get("pods"))
    origins = logs.get("container_origins") or []
    for source in ("journal", "kernel", "container"):
        text = logs.get(source) or ""
        if not text:
            continue
        for match in kb.match_text(text, source=source):
            if match.signature.id in xid.KB_SIGNATURES:
                _xid_findings(ctx, text, source)
                continue
            times = f" ({match.count}x)" if match.count > 1 else ""
            if api_answers and (match.signature.id in API_DOWN_SIGNATURES or (
                    API_PORT_SILENT.search(match.evidence) and "x509" not in match.evidence)):
                ctx.add(f"log:{match.signature.id}", "info", match.evidence,
                        f"{match.signature.cause} [{source} log{times}]{API_ANSWERS_NOW}")
                continue
            if runtime_fine and match.signature.id in RUNTIME_DOWN_SIGNATURES:
                ctx.add(f"log:{match.signature.id}", "info", match.evidence,
                        f"{match.signature.cause} [{source} log{times}]{RUNTIME_RUNS_NOW}")
                continue
            # A weak match (below kb.MIN_CONFIDENCE) is only a hint, never a critical finding.
            weak = "" if match.convincing else f", weak match {match.confidence:.2f}"
            ref = (_log_pod(probe, match.evidence)
                   if match.signature.step in STEP_REQUIRED_VARS else None)
            pod, listed = (_container_log_pod(origins, pods, match.line)
                           if source == "container" else ("", None))
            if pod and listed is None and pods_read:
                continue  # the log of a pod that is gone (replaced by a rollout): history
            if listed is not None:
                # a pod's own log: its repair is that pod's (the portal's nginx Deployment, ...)
                ref = cluster.pod_ref(listed)
            where = f" of pod {pod}" if pod else ""
            _add_signature(ctx, f"log:{match.signature.id}", match,
                           f"{match.signature.cause} [{source} log{where}{times}{weak}]", ref,
                           severity=None if match.convincing else "info", subject=pod or None)


def _runtime_runs_and_node_ready(ctx: _Ctx, probe: dict[str, Any], view: dict[str, Any]) -> bool:
    """kubelet's runtime is active now and the API shows this host's node Ready."""
    runtime = ctx.settings["container_runtime"] or "docker"
    if not ((probe.get("services") or {}).get(runtime) or {}).get("active"):
        return False
    name = ctx.settings["node_name"] or ctx.host
    return name in cluster.node_names(view.get("nodes")) and not any(
        c["type"] == "Ready" for c in cluster.node_problems(view.get("nodes"), name))


def _kubernetes_node(ctx: _Ctx) -> bool:
    """Is this host meant to run Kubernetes (a master or a worker)?"""
    return bool({"masters", "workers"} & set(ctx.settings["groups"] or []))


def _xid_findings(ctx: _Ctx, text: str, source: str) -> None:
    """One finding per Xid code with the action its catalog class needs (NVIDIA's Xid catalog)."""
    for found in xid.findings(text, ctx.settings["customer"], ctx.host):
        times = f" ({found['count']}x)" if found["count"] > 1 else ""
        ctx.add(f"log:{found['id']}", found["severity"], found["evidence"],
                f"{found['cause']} -> {found['action']} [{source} log{times}]",
                fix=found["command"])



def _check_cluster_api(ctx: _Ctx, probe: dict[str, Any], view: dict[str, Any]) -> None:
    """Kubernetes not readable from the first master: a finding only where it should run."""
    s = ctx.settings
    if ctx.host != s["first_master"] or view.get("available"):
        return
    kubelet = (probe.get("services") or {}).get("kubelet", {})
    if not view.get("kubeconfig_present"):
        if kubelet.get("installed") and _kubernetes_node(ctx):
            ctx.add("kubernetes-api", "warning", f"{view.get('kubeconfig')}: missing",
                    "kubelet is installed on the first master but there is no admin kubeconfig: "
                    "the control plane was never initialised here (or was reset)",
                    fix=BOOTSTRAP_FIX % TAG_CONTROL_PLANE)
        return
    ctx.add("kubernetes-api", "critical", (view.get("reason") or "kubectl failed")[:400],
            "kubectl on the first master gets no answer from the API server (after a power "
            "loss: swap back on, kubelet down)", step="after-reboot")


def _pod_check(ctx: _Ctx, problem: cluster.ContainerProblem, where: str) -> None:
    s = ctx.settings
    ref = problem.ref
    what = {"CrashLoopBackOff": "restarts in a loop (CrashLoopBackOff)",
            "ContainerCannotRun": "cannot be started by the runtime (ContainerCannotRun)",
            "ImagePullBackOff": "image cannot be pulled (ImagePullBackOff)",
            "ErrImagePull": "image cannot be pulled (ErrImagePull)",
            "ErrImageNeverPull": "image is not on the node and its pull policy is Never "
                                 "(ErrImageNeverPull)",
            "restarts": f"restarted {problem.restarts} times",
            "NotReady": "runs but fails its readiness probe"}.get(
                problem.state, f"is waiting: {problem.state}")
    last = (f", last exit {problem.exit_code} {problem.last_reason}".rstrip()
            if problem.exit_code is not None else "")
    message = f"container {problem.container} of pod {where} {what}{last}"
    subject = _subject(ref)
    evidence = problem.message or f"{problem.state} (restarts: {problem.restarts})"
    matches = kb.match_text(problem.message, source="container") if s["kb"] else []
    if matches:
        match = matches[0]
        _add_signature(ctx, f"pod:{match.signature.id}", match,
                       f"{message}: {match.signature.cause}", ref)
        return
    if (ref.deployment and f"{ref.namespace}/{ref.deployment}" in (s["job_services"] or [])
            and problem.state != "restarts"):
        ctx.add("job-services", "critical", evidence, message + ": a job service of the platform "
                "is down, so jobs Fail or Error (seed 000 #12): the job images are pulled from the "
                "private registry on every node, every NFS mount checked, then the job services "
                "restarted", step="job-path",
                extravars={"container_runtime_job_images": problem.image} if problem.image
                else None, subject=subject)
        return
    if (problem.container in PORTAL_CONTAINERS and ref.deployment
            and problem.state not in ("restarts", "ContainerCannotRun", *cluster.IMAGE_PROBLEMS)):
        ctx.add("portal-nginx-pod", "critical", evidence, message + ": the web portal is down "
                "(seed 000 #11, after the master rebooted): its nginx config is checked in the "
                "pod, then the Deployment restarted", step="nginx-restart",
                extravars={"nginx_pod_namespace": ref.namespace,
                           "nginx_pod_deployment": ref.deployment}, subject=subject)
        return
    if problem.state in cluster.IMAGE_PROBLEMS:
        why = ("the pod may only use an image already on the node (imagePullPolicy Never)"
               if problem.state == "ErrImageNeverPull" else
               "the image is neither on the node nor in the private registry")
        ctx.add("pod-image-pull", "warning", evidence, f"{message}: {why} (air-gapped: load it "
                "from the bundle)", fix="kubemedic images load -c {customer} --limit {host}",
                subject=subject)
    elif problem.state == "ContainerCannotRun":
        ctx.add("pod-cannot-run", "critical", evidence, message + ": the runtime refuses the "
                "container (an unknown OCI error: the runtime is reinstalled from the pinned "
                "packages)", fix=BOOTSTRAP_FIX % TAG_CONTAINER_RUNTIME, subject=subject)
    else:
        # The application's own fault (OOMKilled, exit 1, a failing readiness): kubemedic has no
        # repair to run; `kubectl -n NS logs POD -c C --previous` on the first master shows why.
        ctx.add("pod-restarts", "info" if problem.state == "restarts" else "warning", evidence,
                f"{message}: no known platform cause (application fault?); read its logs "
                f"with kubectl -n {ref.namespace} logs {ref.name} -c {problem.container} "
                "--previous", subject=subject)


def _check_cluster(ctx: _Ctx, probe: dict[str, Any]) -> None:
    """Node conditions, failing containers, warning events and certificate expiry, as kubectl
    on the first master sees them, for the node this host is."""
    view = probe.get("cluster") or {}
    if not view:
        return  # not collected in this run (doctor_cluster: false, or no first master)
    _check_cluster_api(ctx, probe, view)
    s = ctx.settings
    first = ctx.host == s["first_master"]
    if first:
        _check_certs(ctx, view)  # also when the API is down: expired certificates stop it
    if not view.get("available"):
        return
    name = s["node_name"] or ctx.host
    if _kubernetes_node(ctx) and name not in cluster.node_names(view.get("nodes")):
        ctx.add("node-registered", "warning", f"node {name}: not in `kubectl get nodes`",
                f"{name} is a Kubernetes host in the inventory but not a node of the cluster "
                "(never joined, or removed)", fix=BOOTSTRAP_FIX % TAG_JOIN)
    for cond in cluster.node_problems(view.get("nodes"), name):
        detail = f"{cond['type']}={cond['status']} {cond['reason']}: {cond['message']}".strip()
        if cond["type"] == "Ready":
            ctx.add("node-ready", "critical", detail, f"node {name} is NotReady: kubelet "
                    "stopped posting status or the runtime/CNI is down", step="after-reboot")
        elif cond["type"] == "DiskPressure":
            ctx.add("node-disk-pressure", "critical", detail, f"kubelet evicts pods from {name}:"
                    " disk or inodes below the eviction threshold", step="disk-cleanup")
        else:
            # The node's workload (a runaway process, too many pods): no kubemedic repair.
            ctx.add(f"node-{cond['type'][:-len('Pressure')].lower()}-pressure", "warning",
                    detail, f"kubelet reports {cond['type']} on {name} and evicts pods: the "
                    "workload uses more than the node has (no platform repair; find the "
                    "process with `top` / `ps` on the node)")
    patterns = [pattern for group, names in (s["device_resources"] or {}).items()
                if group in s["groups"] for pattern in names or []]
    zero = cluster.zero_device_resources(view.get("nodes"), name, patterns)
    if zero:
        ctx.add("device-plugin-devices", "critical", "; ".join(zero),
                f"node {name} has no devices of its device plugin's resource: the plugin is not "
                "registered with kubelet (kubelet restarted, e.g. after a driver change, and the "
                "plugin did not register again), so pods that ask for them stay Pending",
                step="device-plugin-restart")
    pods = cluster.pods_by_key(view.get("pods"))
    pods_read = cluster.pods_read(view)
    for problem in cluster.container_problems(view.get("pods"), s["pod_restart_warn"],
                                              watch_ready=PORTAL_CONTAINERS, now=view.get("now")):
        node = problem.ref.node
        if node == name or (node is None and first):
            _pod_check(ctx, problem, f"{problem.ref.namespace}/{problem.ref.name}")
    since = (view.get("now") or time.time()) - 60 * int(s["window_minutes"])
    seen: set[tuple[str, str, str]] = set()
    for event in cluster.warning_events(view.get("events"), since):
        pod = pods.get((event.namespace, event.name)) if event.kind == "Pod" else None
        if (event.kind == "Pod" and pod is None and pods_read
                and cluster.guess_ref(event.namespace, event.name).deployment):
            continue  # a Deployment's pod that is gone was replaced: its events are history
        ref = cluster.pod_ref(pod) if pod else (
            cluster.guess_ref(event.namespace, event.name) if event.kind == "Pod" else None)
        node = (ref.node if ref and ref.node else None) or event.host or (
            event.name if event.kind == "Node" else None)
        if not (node == name or (node is None and first)):
            continue
        if (event.reason in cluster.RESOLVED_BY_START and pod is not None
                and cluster.started_after(pod, event.last_seen)):
            continue  # every container started after the failed mount: it is history
        if event.reason == "FailedMount" and (
                f'configmap "{s["job_scripts_configmap"]}" not found' in event.message):
            ctx.add("npu-log-configmap", "critical", event.message[:400],
                    f"{event.kind} {event.namespace}/{event.name} cannot start: the job scripts "
                    f"ConfigMap {s['job_scripts_configmap']} is missing (jobs lose their NPU "
                    "logs, seed 000 #8)", step="npu-log-configmap", subject=_subject(ref))
            continue
        if not s["kb"]:
            continue
        matches = kb.match_text(f"{event.reason} {event.message}")
        if not matches:
            continue
        match = matches[0]
        key = (match.signature.id, event.namespace, event.name)
        if key in seen:
            continue
        seen.add(key)
        times = f" (x{event.count})" if event.count > 1 else ""
        if match.signature.id in API_DOWN_SIGNATURES:
            # Read through the API server: it answers now.
            ctx.add(f"event:{match.signature.id}", "info", match.evidence,
                    f"{event.kind} {event.namespace}/{event.name}: {match.signature.cause} "
                    f"[event {event.reason}{times}]{API_ANSWERS_NOW}", subject=_subject(ref))
            continue
        _add_signature(ctx, f"event:{match.signature.id}", match,
                       f"{event.kind} {event.namespace}/{event.name}: {match.signature.cause} "
                       f"[event {event.reason}{times}]", ref)


def _check_certs(ctx: _Ctx, view: dict[str, Any]) -> None:
    s = ctx.settings
    now = view.get("now") or time.time()
    soon = []
    worst = "warning"
    for cert in cluster.cert_expiry(view.get("certs")):
        days = (cert["expires"] - now) / 86400
        if days <= s["cert_warn_days"]:
            soon.append(f"{cert['name']}: {'expired' if days < 0 else f'{days:.0f} days left'}")
            if days <= s["cert_crit_days"]:
                worst = "critical"
    if soon:
        ctx.add("kubeadm-certs", worst, ", ".join(soon),
                "kubeadm certificates expire soon (or have): the API server refuses clients, "
                "kubelets cannot renew; renew them on every master",
                step="certs-renew")


# What explains what on one host: (cause check, symptom check patterns). A symptom is folded
# under the first cause listed here that is present; the more fundamental causes come first.
EXPLAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apiserver-address", ("kubernetes-api", "log:apiserver-refused", "log:apiserver-cert-wrong-ip",
                           "node-ready", "kubelet-active")),
    ("kubeadm-cluster-ca", ("node-registered", "node-ready", "log:apiserver-refused")),
    ("kubeadm-certs", ("kubernetes-api", "log:apiserver-refused")),
    ("containerd-config", ("containerd-active", "docker-active", "kubelet-active", "node-ready",
                           "kubernetes-api")),
    ("docker-daemon-json", ("docker-active", "log:docker-daemon-json-invalid", "node-ready",
                            "kubernetes-api")),
    ("containerd-version", ("log:containerd-shim-exec-panic", "log:shim-killed",
                            "log:shim-reaped")),
    ("log:shim-killed", ("log:shim-reaped",)),
    ("containerd-active", ("docker-active", "node-ready", "kubernetes-api")),
    ("docker-active", ("node-ready", "kubernetes-api", "pause-image")),
    ("swap", ("kubelet-active", "log:kubelet-swap-on", "node-ready", "kubernetes-api")),
    ("kubelet-active", ("node-ready", "kubernetes-api", "log:apiserver-refused")),
    ("disk-usage", ("log:disk-full", "node-disk-pressure")),
    ("inodes-usage", ("log:disk-full", "node-disk-pressure")),
    ("inotify-limits", ("log:inotify-exhausted",)),
    ("accelerator-modules", ("log:nvidia-driver-mismatch", "log:npu-devdrv-missing",
                             "log:device-plugin-registration", "npu-devdrv-class",
                             "device-plugin-devices")),
    ("npu-devdrv-class", ("log:npu-devdrv-missing", "log:device-plugin-registration",
                          "device-plugin-devices")),
    ("nvidia-default-runtime", ("log:nvidia-smi-not-found", "pod:nvidia-smi-not-found",
                                "event:nvidia-smi-not-found")),
    ("pause-image", ("log:pause-sandbox-image", "event:pause-sandbox-image",
                     "log:upstream-registry-unreachable", "event:upstream-registry-unreachable")),
    ("hosts-allow-subnet", ("log:nfs-mount-denied",)),
    # a job service failing on a node without its NFS mount: the mount first (seed 000 #12)
    ("nfs-mount", ("job-services",)),
    ("apt-sources", ("log:apt-gpg-error",)),
    ("kubernetes-api", ("log:apiserver-refused",)),
)


def _same_signature_cause(check: str) -> list[str]:
    """A log line's signature also seen in the cluster (event/pod) is one problem: the cluster's
    finding names the pod, so it carries the complete command."""
    if check.startswith("log:"):
        sig = check[4:]
        return [f"event:{sig}", f"pod:{sig}"]
    return []


def _same_object_cause(finding: Finding, findings: list[Finding]) -> str | None:
    """A pod's generic finding (pod-restarts, portal-nginx-pod, ...) is explained by a known cause
    seen for the same pod (a container message, its own log or an event matching a signature);
    an event by the container message of the same pod."""
    if not finding.subject:
        return None
    generic = finding.check.startswith(("pod-", "portal-"))
    kinds = ("pod:", "log:", "event:") if generic else (
        ("pod:",) if finding.check.startswith("event:") else ())
    for kind in kinds:
        for other in findings:
            if other is not finding and other.subject == finding.subject and \
                    other.check.startswith(kind):
                return other.check
    return None


def link(findings: list[Finding]) -> None:
    """Set caused_by / explains between the findings of one host."""
    present = {f.check for f in findings}
    causes: dict[int, str] = {}
    for finding in findings:
        same = _same_object_cause(finding, findings)
        if same:
            causes[id(finding)] = same
            continue
        for cause, symptoms in EXPLAINS:
            if cause != finding.check and cause in present and any(
                    fnmatch.fnmatchcase(finding.check, pattern) for pattern in symptoms):
                causes[id(finding)] = cause
                break
        else:
            for cause in _same_signature_cause(finding.check):
                if cause in present:
                    causes[id(finding)] = cause
                    break
    for finding in findings:
        finding.caused_by = causes.get(id(finding))
    for finding in findings:
        finding.explains = sorted({f.check for f in findings
                                   if f.caused_by == finding.check and f is not finding})


def _host_order(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks_here = {f["check"] for f in group}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for finding in group:
        parent = finding.get("caused_by")
        if parent and parent in checks_here and parent != finding["check"]:
            children.setdefault(parent, []).append(finding)
        else:
            roots.append(finding)

    def severity(finding: dict[str, Any]) -> int:
        return kb.SEVERITY_RANK.get(finding["severity"], 9)

    def rank(finding: dict[str, Any], seen: frozenset[str]) -> int:
        kids = [rank(k, seen | {finding["check"]}) for k in children.get(finding["check"], [])
                if k["check"] not in seen]
        return min([severity(finding), *kids])

    out: list[dict[str, Any]] = []

    def emit(finding: dict[str, Any], seen: frozenset[str]) -> None:
        if any(f is finding for f in out):
            return
        out.append(finding)
        for kid in sorted(children.get(finding["check"], []),
                          key=lambda k: (severity(k), k["check"])):
            if kid["check"] not in seen:
                emit(kid, seen | {finding["check"]})

    # Worst severity explained first; among equals, the finding explaining more comes first.
    for root in sorted(roots, key=lambda f: (rank(f, frozenset()), severity(f),
                                             -len(children.get(f["check"], [])), f["check"])):
        emit(root, frozenset())
        children.pop(root["check"], None)  # a second finding of the same check: no repeat
    emitted = {id(f) for f in out}
    return out + [f for f in group if id(f) not in emitted]  # never lose one (a cycle)


def order(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per host (in name order): root causes by the worst severity they explain, each followed
    by what it explains (depth first). One order for evaluate() and the CLI's table/JSON."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        by_host.setdefault(finding["host"], []).append(finding)
    return [f for host in sorted(by_host) for f in _host_order(by_host[host])]


def _check_security(ctx: _Ctx, probe: dict[str, Any]) -> None:
    """The exposures of cli/kubemedic/doctor/security.py (issue 20)."""
    security.check(ctx.add, probe, list(ctx.settings["security_trusted_cidrs"] or []))


CHECKS = (_check_disks, _check_swap, _check_ntp, _check_services, _check_containerd_config,
          _check_docker, _check_kubeadm, _check_nfs, _check_tcp_wrappers, _check_kernel, _check_nics,
          _check_peers, _check_portal, _check_apt, _check_mysql_backup, _check_logs,
          _check_cluster, _check_security)


def evaluate(host: str, probe: dict[str, Any], settings: dict[str, Any]
             ) -> list[dict[str, Any]]:
    """Findings for one host: root causes first (most severe first), symptoms under them;
    `settings` holds every name of SETTINGS."""
    missing = [name for name in SETTINGS if name not in (settings or {})]
    if missing:
        raise ValueError(f"doctor settings for {host} lack {', '.join(missing)}: the doctor "
                         "role passes them (roles/doctor/defaults/main.yml)")
    ctx = _Ctx(host, dict(settings))
    for check in CHECKS:
        check(ctx, probe or {})
    skip = list(ctx.settings["skip_checks"] or [])
    kept = [f for f in ctx.findings if not any(fnmatch.fnmatchcase(f.check, p) for p in skip)]
    link(kept)
    return order(finding.to_json() for finding in kept)
