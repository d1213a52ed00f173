"""Turn one node's probe (plugins/modules/kubemedic_doctor_probe.py) into doctor findings.

Pure Python: runs on the controller inside the doctor play (filter `kubemedic_doctor_findings`)
so plain ansible-playbook/AWX runs produce the same findings as `kubemedic doctor`.

A finding: host, check, severity (critical|warning|info), evidence (the value or log line),
message, step (a `kubemedic recover` step or null) and command (the exact command that repairs
it: `kubemedic recover <step> -c <customer> --limit <host>`, or the documented fix when no
recovery step applies).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from kubemedic.doctor import kb
from kubemedic.heal import xid

DEFAULTS: dict[str, Any] = {
    "customer": "CUSTOMER",
    "groups": [],
    "accelerator": "none",
    "disk_warn_pct": 85,
    "disk_crit_pct": 95,
    "inode_warn_pct": 85,
    "inode_crit_pct": 95,
    "expected_versions": {},           # package -> version prefix (docker.io, containerd, kubelet)
    "containerd_min_version": "1.2.4",
    "inotify_min_instances": 512,
    "inotify_min_watches": 262144,
    "cluster_subnet": "",
    "shared_kernel": False,
    "pause_image_regex": r"(^|/)pause:",  # some image matching it must be present
    "kubeadm_images": [],              # name:tag, every one expected (masters running kubelet)
    "docker_log_max_bytes": 104857600,
    "npu_collector_process": "npu_collector",
    "check_nvidia_runtime": True,
    "check_ascend_runtime": True,
    "mysql_backup_max_age_hours": 26,  # a running MySQL/MariaDB needs a dump at least this new
    "kb": True,
    "skip_checks": [],                 # check names (shell patterns) not reported
}


@dataclass
class Finding:
    host: str
    check: str
    severity: str
    evidence: str
    message: str
    step: str | None = None
    command: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "check": self.check, "severity": self.severity,
                "evidence": self.evidence, "message": self.message, "step": self.step,
                "command": self.command}


def recover_command(step: str, customer: str, host: str) -> str:
    return f"kubemedic recover {step} -c {customer} --limit {host}"


@dataclass
class _Ctx:
    host: str
    settings: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, severity: str, evidence: Any, message: str,
            step: str | None = None, fix: str | None = None) -> None:
        customer = self.settings["customer"]
        if step:
            command = recover_command(step, customer, self.host)
        elif fix:
            command = fix.format(customer=customer, host=self.host)
        else:
            command = None
        self.findings.append(Finding(self.host, check, severity, str(evidence), message, step,
                                     command))


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _check_disks(ctx: _Ctx, probe: dict[str, Any]) -> None:
    s = ctx.settings
    seen_devices: set[Any] = set()
    for path, info in (probe.get("disks") or {}).items():
        if not info.get("exists"):
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
                "stops (seed 001)", fix="kubemedic bootstrap -c {customer} --tags swap --limit {host}")


RUNTIME_UNITS = ("docker", "containerd")


def _check_ntp(ctx: _Ctx, probe: dict[str, Any]) -> None:
    ntp = probe.get("ntp") or {}
    if ntp.get("known") and not ntp.get("synchronized"):
        ctx.add("ntp", "warning", f"NTPSynchronized=no (NTP service "
                f"{'on' if ntp.get('ntp_service') else 'off'})",
                "the clock is not NTP-synchronised: certificates and etcd misbehave with skew",
                fix="kubemedic bootstrap -c {customer} --tags ntp --limit {host}")


def _check_services(ctx: _Ctx, probe: dict[str, Any]) -> None:
    services = probe.get("services") or {}
    for name, info in services.items():
        if not info.get("installed"):
            ctx.add(f"{name}-installed", "info", f"{name}: not installed",
                    f"{name} is not installed (not bootstrapped yet?)",
                    fix="kubemedic bootstrap -c {customer} --limit {host}")
        elif not info.get("active") and name in RUNTIME_UNITS:
            ctx.add(f"{name}-active", "critical", f"{name}: {info.get('state')}",
                    f"{name} is installed but not running: no container can start",
                    fix="kubemedic bootstrap -c {customer} --tags container_runtime --limit {host}")
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
                    fix="kubemedic bootstrap -c {customer} --limit {host}")
    containerd = versions.get("containerd-binary") or versions.get("containerd") \
        or versions.get("containerd.io")
    minimum = ctx.settings["containerd_min_version"]
    if containerd and _version_tuple(containerd) < _version_tuple(minimum):
        ctx.add("containerd-version", "critical", f"containerd {containerd}",
                f"containerd older than {minimum}: containerd-shim panics on exec and kills "
                "containers with 137 (seed 004)", step="containerd-upgrade")


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
                fix="kubemedic bootstrap -c {customer} --tags nvidia_runtime --limit {host}")
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
    images = docker.get("images")
    if images is None:
        return  # docker not running: reported by the service check
    if s["pause_image_regex"] and not any(re.search(s["pause_image_regex"], image)
                                          for image in images):
        ctx.add("pause-image", "critical", f"no image matches {s['pause_image_regex']!r} "
                f"({len(images)} images)",
                "the pause (sandbox) image is missing: no pod can start on this node",
                step="pause-image")
    kubelet = (probe.get("services") or {}).get("kubelet", {})
    missing = [want for want in s["kubeadm_images"] if not any(
        image == want or image.endswith("/" + want) for image in images)]
    if missing and kubelet.get("installed"):
        ctx.add("kubeadm-images", "warning", ", ".join(missing),
                "kubeadm images are missing: kubeadm would try the internet (k8s.gcr.io)",
                fix="kubemedic images load -c {customer} --limit {host}")


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
        ctx.add("npu-devdrv-class", "critical", "/sys/class/devdrv-class: missing",
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


def _check_logs(ctx: _Ctx, probe: dict[str, Any]) -> None:
    if not ctx.settings["kb"]:
        return
    logs = probe.get("logs") or {}
    for source in ("journal", "kernel", "container"):
        text = logs.get(source) or ""
        if not text:
            continue
        for match in kb.match_text(text, source=source):
            sig = match.signature
            if sig.id in xid.KB_SIGNATURES:
                _xid_findings(ctx, text, source)
                continue
            times = f" ({match.count}x)" if match.count > 1 else ""
            ctx.add(f"log:{sig.id}", sig.severity, match.evidence,
                    f"{sig.cause} [{source} log{times}]", step=sig.step, fix=sig.fix)


def _xid_findings(ctx: _Ctx, text: str, source: str) -> None:
    """One finding per Xid code with the action its catalog class needs (NVIDIA's Xid catalog)."""
    for found in xid.findings(text, ctx.settings["customer"], ctx.host):
        times = f" ({found['count']}x)" if found["count"] > 1 else ""
        ctx.add(f"log:{found['id']}", found["severity"], found["evidence"],
                f"{found['cause']} -> {found['action']} [{source} log{times}]",
                fix=found["command"])


CHECKS = (_check_disks, _check_swap, _check_ntp, _check_services, _check_docker, _check_nfs,
          _check_tcp_wrappers, _check_kernel, _check_nics, _check_apt, _check_mysql_backup,
          _check_logs)


def evaluate(host: str, probe: dict[str, Any], settings: dict[str, Any] | None = None
             ) -> list[dict[str, Any]]:
    """Findings for one host, most severe first."""
    ctx = _Ctx(host, {**DEFAULTS, **(settings or {})})
    for check in CHECKS:
        check(ctx, probe or {})
    skip = list(ctx.settings["skip_checks"] or [])
    kept = [f for f in ctx.findings if not any(fnmatch.fnmatchcase(f.check, p) for p in skip)]
    kept.sort(key=lambda f: kb.SEVERITY_RANK[f.severity])
    return [finding.to_json() for finding in kept]
