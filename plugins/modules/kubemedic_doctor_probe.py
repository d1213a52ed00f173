#!/usr/bin/python
"""Collect everything `kubemedic doctor` needs from one node in one module call (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_doctor_probe
short_description: Collect a node's diagnostic state for kubemedic doctor in one pass
description:
  - Read-only. Gathers disk and inode use, swap, NTP, service states and versions, docker's
    runtimes and images, containerd's (CRI) images, fstab NFS mounts, tcp-wrappers files, inotify limits, kernel modules,
    accelerator device nodes, NIC link/autonegotiation, reachability of the other nodes, apt sources, oversized container logs and
    recent log lines (journald units, kernel log, container logs) into one JSON result.
  - Thresholds are not applied here; the doctor role evaluates the result on the controller.
  - Every option is required; the doctor role passes each one from roles/doctor/defaults/main.yml
    (the one place its values are defined).
options:
  disk_paths: {description: Paths whose filesystem use is reported (missing ones are skipped)., type: list, elements: str, required: true}
  docker_data_root: {description: Docker data-root (container logs are under containers/)., type: str, required: true}
  docker_log_max_bytes: {description: Report container log files larger than this., type: int, required: true}
  services: {description: systemd units whose state and version are reported., type: list, elements: str, required: true}
  journal_units: {description: Units whose recent journal is returned (only since the unit last started)., type: list, elements: str, required: true}
  window_minutes: {description: How far back logs are read., type: int, required: true}
  max_lines: {description: Most lines returned per log source., type: int, required: true}
  kernel_dmesg: {description: Read the kernel ring buffer (dmesg)., type: bool, required: true}
  kernel_log_files: {description: Kernel log files read as well (tail)., type: list, elements: str, required: true}
  container_log_globs: {description: Container log files (tail of recently written ones)., type: list, elements: str, required: true}
  container_tail_bytes: {description: Bytes read from the end of each container log., type: int, required: true}
  nics: {description: NICs to check; empty = every physical NIC (with a device link)., type: list, elements: str, required: true}
  accelerator_modules: {description: Kernel module names per accelerator type., type: dict, required: true}
  npu_sysfs_class: {description: The Ascend driver's sysfs class folder (missing when the driver is not loaded)., type: str, required: true}
  process_patterns: {description: name -> regex searched in every process command line., type: dict, required: true}
  apt_sources: {description: apt source files checked for a usable key., type: list, elements: str, required: true}
  mysql_backup_dirs:
    description: >-
      Folders holding MySQL/MariaDB dumps (*.sql.gz / *.sql); the newest one's age is reported
      when a server runs.
    type: list
    elements: str
    required: true
  peers:
    description: >-
      Other cluster nodes, name -> address: each is reached with a TCP connect to peer_port (an
      answer, even a refusal, counts as reachable).
    type: dict
    required: true
  peer_port: {description: TCP port the peers are reached on (sshd's)., type: int, required: true}
  peer_timeout: {description: Seconds one connect may take., type: float, required: true}
  portal_files:
    description: >-
      The web portal's config files (seed 000 #13, /etc/Dashboard/local.yaml): grafana's URL under
      portal_key is read and reached.
    type: list
    elements: str
    required: true
  portal_key: {description: Key whose value is grafana's URL in those files., type: str, required: true}
  kubeadm_files:
    description: >-
      kubeadm's files on the node, by role: ca (the cluster CA certificate, PEM), apiserver_manifest
      (kube-apiserver's static pod), kubelet_conf (kubelet's kubeconfig). The CA's sha256 (of
      the DER), the advertise address in the manifest, the API server kubelet talks to and the
      node's own IPv4 addresses are reported.
    type: dict
    required: true
  containerd_config:
    description: >-
      containerd's config file; reported when it does not parse (TOML, or `containerd config
      dump` where Python has no tomllib).
    type: str
    required: true
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Doctor | probe the node
  kubemedic_doctor_probe:
    disk_paths: [/, /var/lib/docker, /tmp, /var/log]
  register: probe
"""

RETURN = r"""
probe:
  description: The node's state; see roles/doctor/README or plugins/filter/kubemedic_doctor.py.
  type: dict
  returned: always
"""

import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def _run(args, timeout=20):
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _read(path, limit=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError:
        return None


def _tail(path, size):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            handle.seek(max(0, end - size))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return data if end <= size else data.split("\n", 1)[-1]


def disks(paths):
    out = {}
    for path in paths:
        if not os.path.exists(path):
            out[path] = {"exists": False}
            continue
        st = os.statvfs(path)
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        used = total - st.f_bfree * st.f_frsize
        inodes, ifree = st.f_files, st.f_favail
        out[path] = {
            "exists": True, "total_bytes": total, "avail_bytes": free,
            "used_pct": round(100.0 * used / (used + free), 1) if used + free else 0.0,
            "inode_used_pct": round(100.0 * (inodes - ifree) / inodes, 1) if inodes else 0.0,
            "device": os.stat(path).st_dev,
        }
    return out


def swap():
    lines = (_read("/proc/swaps") or "").splitlines()[1:]
    return [line.split()[0] for line in lines if line.strip()]


def fstab_swap():
    """Active swap lines of /etc/fstab: swap comes back on at the next boot."""
    out = []
    for line in (_read("/etc/fstab") or "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and not parts[0].startswith("#") and parts[2] == "swap":
            options = parts[3].split(",") if len(parts) > 3 else []
            if "noauto" not in options:
                out.append(line.strip())
    return out


SYSCTL_DIRS = ("/usr/lib/sysctl.d", "/lib/sysctl.d", "/run/sysctl.d", "/etc/sysctl.d")


def sysctl_persisted(keys):
    """Value each key gets at boot (systemd-sysctl order: files by name, /etc wins, sysctl.conf last)."""
    files = {}
    for folder in SYSCTL_DIRS:
        for path in glob.glob(f"{folder}/*.conf"):
            files[os.path.basename(path)] = path
    ordered = [files[name] for name in sorted(files)] + ["/etc/sysctl.conf"]
    wanted = {key: key.replace("/", ".") for key in keys}
    values = {key: None for key in keys}
    where = {key: None for key in keys}
    for path in ordered:
        for number, line in enumerate((_read(path) or "").splitlines(), 1):
            stripped = line.strip().lstrip("-")
            if not stripped or stripped[0] in "#;" or "=" not in stripped:
                continue
            name, _sep, value = stripped.partition("=")
            name = name.strip().replace("/", ".")
            for key, dotted in wanted.items():
                if name == dotted:
                    values[key] = value.strip()
                    where[key] = f"{path}:{number}"
    return {"values": values, "where": where}


def ntp():
    rc, out, _stderr = _run(["timedatectl", "show", "-p", "NTPSynchronized", "-p", "NTP", "--value"])
    if rc != 0:
        return {"known": False}
    values = out.split()
    return {"known": True, "synchronized": values[0:1] == ["yes"],
            "ntp_service": values[1:2] == ["yes"]}


def services(names):
    out = {}
    for name in names:
        _rc, state, _stderr = _run(["systemctl", "show", name, "-p", "LoadState,ActiveState,SubState",
                                    "--value"])
        parts = state.split()
        load = parts[0] if parts else "unknown"
        out[name] = {"installed": load == "loaded", "active": parts[1:2] == ["active"],
                     "state": " ".join(parts[1:]) or "unknown"}
    return out


def versions():
    found = {}
    rc, out, _stderr = _run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n",
                             "docker.io", "docker-ce", "containerd", "containerd.io", "kubelet", "kubeadm",
                             "kubectl", "runc"])
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("ii"):
            found[parts[0]] = parts[1]
    rc, out, _stderr = _run(["containerd", "--version"])
    match = re.search(r"\bv?(\d+\.\d+\.\d+)", out) if rc == 0 else None
    if match:
        found["containerd-binary"] = match.group(1)
    return found


def docker_state(active):
    state = {"daemon_json": None, "daemon_json_error": None, "default_runtime": None,
             "runtimes": [], "images": None}
    text = _read("/etc/docker/daemon.json")
    if text is not None:
        try:
            state["daemon_json"] = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            state["daemon_json_error"] = str(exc)
    if isinstance(state["daemon_json"], dict):
        state["default_runtime"] = state["daemon_json"].get("default-runtime")
        state["runtimes"] = sorted((state["daemon_json"].get("runtimes") or {}).keys())
    if active and shutil.which("docker"):
        rc, out, _stderr = _run(["docker", "info", "--format", "{{json .DefaultRuntime}}"])
        if rc == 0 and out.strip():
            with contextlib.suppress(ValueError):
                state["default_runtime"] = json.loads(out)
        rc, out, _stderr = _run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"])
        if rc == 0:
            state["images"] = sorted(set(out.split()))
    return state


def containerd_images(active):
    """Image names in containerd's k8s.io namespace (where kubelet's CRI keeps them: a
    containerd node's images, which docker does not list); None when containerd is not running
    or has no ctr."""
    if not active or not shutil.which("ctr"):
        return None
    rc, out, _stderr = _run(["ctr", "-n", "k8s.io", "images", "ls", "-q"])
    if rc != 0:
        return None
    return sorted({name for name in out.split() if not name.startswith("sha256:")})


def containerd_config(path):
    """Does containerd's config parse? TOML with Python 3.11+'s tomllib (Debian 12); on older
    nodes the exit status of `containerd --config PATH config dump`; unchecked without either."""
    out = {"path": path, "exists": os.path.isfile(path), "error": None, "checked_with": None}
    if not out["exists"]:
        return out
    try:
        import tomllib  # novermin: 3.11+, guarded
    except ImportError:
        tomllib = None
    if tomllib is not None:
        out["checked_with"] = "tomllib"
        try:
            with open(path, "rb") as handle:
                tomllib.load(handle)
        except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            out["error"] = str(exc)[:400]
        return out
    binary = shutil.which("containerd")
    if binary:
        out["checked_with"] = "containerd config dump"
        rc, _out, err = _run([binary, "--config", path, "config", "dump"])
        if rc != 0:
            out["error"] = (err.strip().splitlines() or [f"exit {rc}"])[-1][:400]
    return out


def pem_sha256(path):
    """sha256 (hex) of the first certificate of a PEM file, over its DER bytes; None if absent."""
    import base64
    import hashlib

    text = _read(path)
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text or "",
                      re.S)
    if not match:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


def ipv4_addresses():
    """The node's IPv4 addresses (`ip -o -4 addr`), loopback left out."""
    rc, out, _stderr = _run(["ip", "-o", "-4", "addr", "show"])
    if rc != 0:
        return None
    found = re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", out)
    return [address for address in found if not address.startswith("127.")]


def kubeadm_state(files):
    """What kubeadm made this node: the cluster CA it trusts, the API server kubelet talks to,
    the address this node's API server advertises (masters), and the node's own addresses."""
    manifest = _read(files.get("apiserver_manifest") or "") or ""
    advertise = re.search(r"--advertise-address=([^\s\"']+)", manifest)
    kubelet = _read(files.get("kubelet_conf") or "") or ""
    server = re.search(r"^\s*server:\s*['\"]?([^\s'\"]+)", kubelet, re.M)
    return {"ca_sha256": pem_sha256(files.get("ca") or ""),
            "apiserver_advertise": advertise.group(1) if advertise else None,
            "kubelet_server": server.group(1) if server else None,
            "addresses": ipv4_addresses()}


def fstab_nfs():
    mounted = set()
    for line in (_read("/proc/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounted.add(parts[1].replace("\\040", " "))
    entries = []
    for line in (_read("/etc/fstab") or "").splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith("#") or not parts[2].startswith("nfs"):
            continue
        options = parts[3].split(",") if len(parts) > 3 else []
        entries.append({"source": parts[0], "target": parts[1], "fstype": parts[2],
                        "noauto": "noauto" in options, "mounted": parts[1] in mounted,
                        "line": line.strip()})
    return entries


def tcp_wrappers():
    out = {}
    for name in ("hosts.allow", "hosts.deny"):
        text = _read(f"/etc/{name}")
        out[name] = None if text is None else [
            (n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")]
    return out


def inotify():
    out = {}
    for key in ("max_user_instances", "max_user_watches"):
        value = (_read(f"/proc/sys/fs/inotify/{key}") or "").strip()
        out[key] = int(value) if value.isdigit() else None
    return out


def kernel(accelerator_modules, npu_sysfs_class):
    release = os.uname().release
    loaded = {line.split()[0] for line in (_read("/proc/modules") or "").splitlines() if line}
    available = {}
    moddir = f"/lib/modules/{release}"
    for accel, names in (accelerator_modules or {}).items():
        have = []
        for name in names:
            if name in loaded or glob.glob(f"{moddir}/**/{name}.ko*", recursive=True):
                have.append(name)
        available[accel] = have
    return {"release": release, "loaded": sorted(loaded), "accelerator_modules": available,
            "devdrv_class": os.path.isdir(npu_sysfs_class), "devdrv_class_path": npu_sysfs_class,
            "nvidia_dev": os.path.exists("/dev/nvidiactl")}


def processes(patterns):
    compiled = {name: re.compile(rx) for name, rx in (patterns or {}).items()}
    found = {name: [] for name in compiled}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        raw = _read(f"/proc/{pid}/cmdline")
        if not raw:
            continue
        cmd = raw.replace("\x00", " ").strip()
        for name, rx in compiled.items():
            if rx.search(cmd):
                found[name].append(int(pid))
    return found


def mysql_backup(dirs):
    """Is a MySQL/MariaDB server running, and how old is the newest dump in `dirs`?"""
    running = False
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (_read(f"/proc/{pid}/comm") or "").strip() in ("mariadbd", "mysqld"):
            running = True
            break
    newest = None
    for folder in dirs or []:
        for path in glob.glob(f"{folder}/*.sql.gz") + glob.glob(f"{folder}/*.sql"):
            try:
                mtime = os.path.getmtime(path)
            except OSError:
                continue
            newest = mtime if newest is None else max(newest, mtime)
    age = None if newest is None else round((time.time() - newest) / 3600, 2)
    return {"running": running, "dirs": list(dirs or []), "newest_age_hours": age}


def nics(names):
    if not names:
        names = sorted(n for n in os.listdir("/sys/class/net")
                       if os.path.exists(f"/sys/class/net/{n}/device"))
    ethtool = shutil.which("ethtool") or next(
        (p for p in ("/usr/sbin/ethtool", "/sbin/ethtool") if os.path.exists(p)), None)
    out = {}
    for name in names:
        base = f"/sys/class/net/{name}"
        if not os.path.exists(base):
            out[name] = {"exists": False}
            continue
        info = {"exists": True, "operstate": (_read(f"{base}/operstate") or "").strip(),
                "carrier": (_read(f"{base}/carrier") or "").strip() or None, "autoneg": None,
                "speed": None}
        if ethtool:
            _rc, text, _stderr = _run([ethtool, name])
            match = re.search(r"Auto-negotiation:\s*(\w+)", text)
            if match:
                info["autoneg"] = match.group(1).lower() == "on"
            match = re.search(r"Speed:\s*(\S+)", text)
            if match:
                info["speed"] = match.group(1)
            match = re.search(r"Link detected:\s*(\w+)", text)
            if match:
                info["link"] = match.group(1).lower() == "yes"
        out[name] = info
    return out


def peers(targets, port, timeout):
    """{"checked": n, "unreachable": {name: reason}}: seed 000 #10, nodes that cannot reach each
    other. Connects run in parallel threads, so the probe takes about one timeout at worst."""
    import errno
    import socket
    from concurrent.futures import ThreadPoolExecutor

    def reach(item):
        name, address = item
        try:
            with socket.create_connection((str(address), port), timeout=timeout):
                return name, None
        except ConnectionRefusedError:
            return name, None  # the host answered
        except TimeoutError:
            return name, f"{address}:{port}: timed out"
        except OSError as exc:
            return name, f"{address}:{port}: {errno.errorcode.get(exc.errno, exc.errno)} {exc.strerror}"

    items = sorted((targets or {}).items())
    if not items:
        return {"checked": 0, "unreachable": {}}
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        results = list(pool.map(reach, items))
    return {"checked": len(items), "unreachable": {n: r for n, r in results if r}}


def portal(files, key, timeout):
    """{path: {"grafana": url, "reachable": bool, "error": str}} for the portal's config files
    that exist and hold `key: <url>` (a flat YAML key; read with a regex: no PyYAML needed)."""
    import re
    import socket
    from urllib.parse import urlsplit

    out = {}
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*:\s*['\"]?([^'\"\s#]+)", re.M)
    for path in files:
        text = _read(path, 65536)
        if text is None:
            continue
        match = pattern.search(text)
        if not match:
            continue
        url = match.group(1)
        entry = {"grafana": url, "reachable": False, "error": ""}
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                entry["reachable"] = True
        except (OSError, ValueError) as exc:
            entry["error"] = str(exc)[:200]
        out[path] = entry
    return out


def apt_sources(files):
    out = []
    for path in files:
        text = _read(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            problem = None
            if not re.match(r"^deb(-src)?\s", stripped):
                problem = "not a deb line"
            else:
                match = re.search(r"signed-by=([^\s\]]+)", stripped)
                if match:
                    key = match.group(1)
                    if not os.path.isfile(key) or os.path.getsize(key) == 0:
                        problem = f"signed-by key {key} is missing or empty"
                elif not (glob.glob("/etc/apt/trusted.gpg.d/*docker*")
                          or os.path.isfile("/etc/apt/trusted.gpg")):
                    problem = "no signed-by key and no docker key in the apt trust store"
            out.append({"file": path, "line_no": number, "line": stripped, "problem": problem})
    return out


def big_logs(data_root, limit):
    out = []
    for path in glob.glob(f"{data_root}/containers/*/*-json.log*"):
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        if size > limit:
            out.append({"path": path, "bytes": size})
    return sorted(out, key=lambda item: -item["bytes"])[:20]


def unit_started(unit):
    """Epoch seconds of the unit's last start (ActiveEnterTimestamp), None if never started."""
    rc, out, _stderr = _run(["systemctl", "show", "--timestamp=unix", "-p", "ActiveEnterTimestamp",
                             "--value", unit])
    match = re.fullmatch(r"@(\d+)", out.strip()) if rc == 0 else None
    return int(match.group(1)) if match else None


def journal(units, since, max_lines):
    """Each unit's lines within the window, but only since its last start: what a unit logged
    before a restart (the repair) is history, not its current state."""
    if not units or not shutil.which("journalctl"):
        return ""
    chunks = []
    for unit in units:
        start = unit_started(unit)
        unit_since = f"@{max(since, start)}" if start else f"@{since}"
        rc, out, _stderr = _run(["journalctl", "--no-pager", "-q", "-o", "short-iso", "--since",
                                 unit_since, "-n", str(max_lines), "-u", unit], timeout=30)
        if rc == 0 and out.strip():
            chunks.append(out.rstrip("\n"))
    return "\n".join(chunks)


def kernel_log(use_dmesg, files, window_seconds, max_lines):
    chunks = []
    if use_dmesg:
        rc, out, _stderr = _run(["dmesg"])
        if rc == 0:
            uptime = float((_read("/proc/uptime") or "0").split()[0])
            recent = []
            for line in out.splitlines():
                match = re.match(r"\[\s*(\d+\.\d+)\]", line)
                if match and float(match.group(1)) < uptime - window_seconds:
                    continue
                recent.append(line)
            chunks.append("\n".join(recent[-max_lines:]))
    for path in files:
        if os.path.isfile(path) and time.time() - os.path.getmtime(path) < window_seconds:
            chunks.append("\n".join(_tail(path, 1 << 20).splitlines()[-max_lines:]))
    return "\n".join(chunk for chunk in chunks if chunk)


_POD_LOG = re.compile(r"/pods/(?P<ns>[^_/]+)_(?P<pod>[^_/]+)_[^/]+/(?P<container>[^/]+)/[^/]+$")


def container_origin(path):
    """The Kubernetes pod a container log file belongs to, "namespace/pod/container" ("" when it
    is none): kubelet's /var/log/pods/<ns>_<pod>_<uid>/<container>/N.log, or a docker json log
    whose container's config carries kubelet's io.kubernetes.* labels."""
    match = _POD_LOG.search(path)
    if match:
        return "/".join(match.group("ns", "pod", "container"))
    try:
        with open(os.path.join(os.path.dirname(path), "config.v2.json"), encoding="utf-8") as handle:
            labels = (json.load(handle).get("Config") or {}).get("Labels") or {}
    except (OSError, ValueError, AttributeError):
        return ""
    keys = ("pod.namespace", "pod.name", "container.name")
    parts = [labels.get(f"io.kubernetes.{key}") for key in keys]
    return "/".join(parts) if all(parts) else ""


def container_logs(patterns, window_seconds, tail_bytes, max_lines):
    """The recent container log lines, and where they come from: [[first line (1-based), origin],
    ...] for the runs of lines of one file (origin: container_origin)."""
    now = time.time()
    lines, starts = [], []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                if now - os.path.getmtime(path) > window_seconds:
                    continue
            except OSError:
                continue
            starts.append((len(lines), container_origin(path)))
            for raw in _tail(path, tail_bytes).splitlines():
                text = raw
                if raw.startswith("{"):
                    with contextlib.suppress(ValueError):
                        text = json.loads(raw).get("log", raw)
                lines.append(text.rstrip("\n"))
    cut = max(0, len(lines) - max_lines)
    origins = []
    for index, (start, origin) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        if end > cut and end > start:
            origins.append([max(start, cut) - cut + 1, origin])
    return "\n".join(lines[cut:]), origins


def main():
    module = AnsibleModule(
        argument_spec={
            "disk_paths": {"type": "list", "elements": "str", "required": True},
            "docker_data_root": {"type": "str", "required": True},
            "docker_log_max_bytes": {"type": "int", "required": True},
            "services": {"type": "list", "elements": "str", "required": True},
            "journal_units": {"type": "list", "elements": "str", "required": True},
            "window_minutes": {"type": "int", "required": True},
            "max_lines": {"type": "int", "required": True},
            "kernel_dmesg": {"type": "bool", "required": True},
            "kernel_log_files": {"type": "list", "elements": "str", "required": True},
            "container_log_globs": {"type": "list", "elements": "str", "required": True},
            "container_tail_bytes": {"type": "int", "required": True},
            "nics": {"type": "list", "elements": "str", "required": True},
            "accelerator_modules": {"type": "dict", "required": True},
            "npu_sysfs_class": {"type": "str", "required": True},
            "process_patterns": {"type": "dict", "required": True},
            "apt_sources": {"type": "list", "elements": "str", "required": True},
            "mysql_backup_dirs": {"type": "list", "elements": "str", "required": True},
            "containerd_config": {"type": "str", "required": True},
            "kubeadm_files": {"type": "dict", "required": True},
            "peers": {"type": "dict", "required": True},
            "portal_files": {"type": "list", "elements": "str", "required": True},
            "portal_key": {"type": "str", "required": True, "no_log": False},  # a key name
            "peer_port": {"type": "int", "required": True},
            "peer_timeout": {"type": "float", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    started = time.monotonic()
    window = p["window_minutes"] * 60
    since = int(time.time()) - window
    svc = services(p["services"])
    docker_active = svc.get("docker", {}).get("active", False)
    probe = {
        "disks": disks(p["disk_paths"]),
        "swap": swap(),
        "fstab_swap": fstab_swap(),
        "sysctl_persisted": sysctl_persisted(["fs.inotify.max_user_instances",
                                              "fs.inotify.max_user_watches"]),
        "ntp": ntp(),
        "services": svc,
        "versions": versions(),
        "docker": docker_state(docker_active),
        "containerd_images": containerd_images(svc.get("containerd", {}).get("active", False)),
        "containerd_config": containerd_config(p["containerd_config"]),
        "kubeadm": kubeadm_state(p["kubeadm_files"]),
        "fstab_nfs": fstab_nfs(),
        "tcp_wrappers": tcp_wrappers(),
        "inotify": inotify(),
        "kernel": kernel(p["accelerator_modules"], p["npu_sysfs_class"]),
        "processes": processes(p["process_patterns"]),
        "nics": nics(p["nics"]),
        "apt_sources": apt_sources(p["apt_sources"]),
        "peers": peers(p["peers"], p["peer_port"], p["peer_timeout"]),
        "portal": portal(p["portal_files"], p["portal_key"], p["peer_timeout"]),
        "mysql": mysql_backup(p["mysql_backup_dirs"]),
        "big_logs": big_logs(p["docker_data_root"], p["docker_log_max_bytes"]),
        "logs": {
            "journal": journal(p["journal_units"], since, p["max_lines"]),
            "kernel": kernel_log(p["kernel_dmesg"], p["kernel_log_files"], window, p["max_lines"]),
        },
    }
    probe["logs"]["container"], probe["logs"]["container_origins"] = container_logs(
        p["container_log_globs"], window, p["container_tail_bytes"], p["max_lines"])
    probe["seconds"] = round(time.monotonic() - started, 2)
    module.exit_json(changed=False, probe=probe)


if __name__ == "__main__":
    main()
