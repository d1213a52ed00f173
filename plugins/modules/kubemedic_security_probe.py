#!/usr/bin/python
"""Collect what doctor's security checks need from one node in one module call (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_security_probe
short_description: Collect a node's exposures for kubemedic doctor's security checks
description:
  - Read-only. Listening sockets (ss -ltnup), the kubelet's anonymous auth and read-only port
    (config file, flag files, running command line), the API server's insecure port, etcd's
    client URLs and client-certificate auth (running process, its environment, manifest or
    /etc/default/etcd), the registry's listen address and auth, docker's TCP sockets and TLS,
    /etc/exports, /etc/hosts.allow and the live kubemedic nftables table.
  - Judgements are made on the controller (cli/kubemedic/doctor/security.py).
options:
  kubelet_config: {description: kubelet's config file., type: str, required: true}
  kubelet_flag_files: {description: "Files holding kubelet flags (kubeadm-flags.env, /etc/default/kubelet).", type: list, elements: str, required: true}
  apiserver_manifest: {description: kube-apiserver's static pod manifest., type: str, required: true}
  etcd_manifest: {description: etcd's static pod manifest., type: str, required: true}
  etcd_env_file: {description: Environment file of a packaged etcd (Debian etcd-server)., type: str, required: true}
  registry_config: {description: The registry's config.yml., type: str, required: true}
  docker_daemon_json: {description: docker's daemon.json., type: str, required: true}
  docker_dropin_dir: {description: docker.service drop-in folder., type: str, required: true}
  exports: {description: The NFS exports file., type: str, required: true}
  hosts_allow: {description: tcp-wrappers' hosts.allow., type: str, required: true}
  firewall_table: {description: Name of kubemedic's inet nftables table., type: str, required: true}
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Doctor | security probe
  kubemedic_security_probe:
    kubelet_config: /var/lib/kubelet/config.yaml
  register: security
"""

RETURN = r"""
security:
  description: The node's listening sockets and service settings (see cli/kubemedic/doctor/security.py).
  type: dict
  returned: always
"""

import json
import os
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

PROCESSES = ("kubelet", "kube-apiserver", "etcd", "dockerd", "docker-registry", "registry")


def _run(args, timeout=20):
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def listening():
    """Every listening TCP and bound UDP socket: proto, address, port, process name."""
    rc, out, _err = _run(["ss", "-ltnupH"])
    sockets = []
    for line in out.splitlines() if rc == 0 else []:
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        address, _colon, port = parts[4].rpartition(":")
        if not port.isdigit():
            continue
        match = re.search(r'\(\("([^"]+)"', line)
        sockets.append({"proto": parts[0], "address": address.strip("[]").split("%")[0],
                        "port": int(port), "process": match.group(1) if match else ""})
    return sockets


def processes():
    """name -> {"args": [...], "env": {ETCD_*: ...}} of the first process of each name."""
    found = {}
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        comm = (_read(f"/proc/{pid}/comm") or "").strip()
        raw = _read(f"/proc/{pid}/cmdline") or ""
        args = [a for a in raw.split("\x00") if a]
        name = os.path.basename(args[0]) if args else comm
        name = name if name in PROCESSES else comm
        if name not in PROCESSES or name in found:
            continue
        env = {}
        for item in (_read(f"/proc/{pid}/environ") or "").split("\x00"):
            key, sep, value = item.partition("=")
            if sep and key.startswith("ETCD_"):
                env[key] = value
        found[name] = {"args": args[1:], "env": env}
    return found


def _flags(args):
    """--flag=value / --flag value / -H value, as name -> [values]."""
    out = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            name, sep, value = arg.lstrip("-").partition("=")
            if not sep and index + 1 < len(args) and not args[index + 1].startswith("-"):
                value = args[index + 1]
                index += 1
            out.setdefault(name, []).append(value if (sep or value) else "true")
        index += 1
    return out


def _file_flags(text):
    """Flags written in a file (KUBELET_KUBEADM_ARGS="--a=b --c=d", a YAML command list)."""
    args = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*(?:=[^\s\"']*)?)", text or "")
    return _flags(args)


def _yaml(text):
    try:
        import yaml
    except ImportError:
        return None
    try:
        data = yaml.safe_load(text)
    except Exception:  # any parse error means "not readable"
        return None
    return data if isinstance(data, dict) else None


def kubelet(config_path, flag_files, procs):
    text = _read(config_path)
    config = {"path": config_path, "exists": text is not None, "anonymous": None,
              "read_only_port": None}
    if text is not None:
        data = _yaml(text)
        if data is not None:
            anonymous = ((data.get("authentication") or {}).get("anonymous") or {})
            config["anonymous"] = anonymous.get("enabled")
            config["read_only_port"] = data.get("readOnlyPort")
        else:
            match = re.search(r"^readOnlyPort:\s*(\d+)", text, re.M)
            config["read_only_port"] = int(match.group(1)) if match else None
            match = re.search(r"^authentication:\s*\n(?:[ \t]+.*\n)*?[ \t]+anonymous:\s*\n"
                              r"[ \t]+enabled:\s*(true|false)", text, re.M)
            config["anonymous"] = (match.group(1) == "true") if match else None
    files = {}
    for path in flag_files:
        content = _read(path)
        if content is not None:
            flags = _file_flags(content)
            files[path] = {k: v for k, v in flags.items()
                           if k in ("anonymous-auth", "read-only-port", "config")}
    running = procs.get("kubelet")
    args = _flags(running["args"]) if running else {}
    return {"config": config, "flag_files": files, "running": running is not None,
            "args": {k: v for k, v in args.items()
                     if k in ("anonymous-auth", "read-only-port", "config")}}


def apiserver(manifest, procs):
    text = _read(manifest)
    flags = _file_flags(text) if text is not None else {}
    running = procs.get("kube-apiserver")
    args = _flags(running["args"]) if running else {}
    keep = ("insecure-port", "insecure-bind-address", "port", "address")
    return {"manifest": manifest, "exists": text is not None,
            "flags": {k: v for k, v in flags.items() if k in keep},
            "running": running is not None, "args": {k: v for k, v in args.items() if k in keep}}


def etcd(manifest, env_file, procs):
    """Client URLs and client-cert auth of the running etcd (flags, then ETCD_* environment),
    else of its manifest or packaged environment file."""
    keep = ("listen-client-urls", "client-cert-auth", "cert-file", "trusted-ca-file")
    running = procs.get("etcd")
    out = {"running": running is not None, "source": None, "settings": {}, "manifest": manifest,
           "env_file": env_file}
    settings = {}
    if running:
        out["source"] = "process"
        for key, value in running["env"].items():
            name = key[len("ETCD_"):].lower().replace("_", "-")
            if name in keep:
                settings[name] = value
        for name, values in _flags(running["args"]).items():
            if name in keep:
                settings[name] = values[-1]
    else:
        text = _read(manifest)
        if text is not None:
            out["source"] = manifest
            settings = {k: v[-1] for k, v in _file_flags(text).items() if k in keep}
        else:
            text = _read(env_file)
            if text is not None:
                out["source"] = env_file
                for match in re.finditer(r'^\s*ETCD_([A-Z_]+)\s*=\s*"?([^"\n]*)"?', text, re.M):
                    name = match.group(1).lower().replace("_", "-")
                    if name in keep:
                        settings[name] = match.group(2).strip()
    out["settings"] = settings
    out["env_file_exists"] = os.path.isfile(env_file)
    out["manifest_exists"] = os.path.isfile(manifest)
    return out


def registry(path, procs):
    text = _read(path)
    out = {"config": path, "exists": text is not None,
           "running": "docker-registry" in procs or "registry" in procs, "addr": None,
           "auth": None, "tls": None}
    if text is None:
        return out
    data = _yaml(text)
    if data is not None:
        http = data.get("http") or {}
        out.update(addr=str(http.get("addr", ":5000")), auth=bool(data.get("auth")),
                   tls=bool(http.get("tls")))
    else:
        match = re.search(r"^\s+addr:\s*(\S+)", text, re.M)
        out.update(addr=match.group(1) if match else ":5000",
                   auth=re.search(r"^auth:", text, re.M) is not None,
                   tls=re.search(r"^\s+tls:", text, re.M) is not None)
    return out


def docker(daemon_json, dropin_dir, procs):
    hosts, tls, sources = [], False, []
    text = _read(daemon_json)
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if isinstance(data, dict):
            hosts += [h for h in data.get("hosts") or [] if str(h).startswith("tcp://")]
            tls = tls or bool(data.get("tlsverify"))
            if hosts:
                sources.append(daemon_json)
    if os.path.isdir(dropin_dir):
        # only what systemd reads: backups (`x.conf.<n>~`) are not drop-ins
        for name in sorted(n for n in os.listdir(dropin_dir) if n.endswith(".conf")):
            content = _read(os.path.join(dropin_dir, name)) or ""
            found = re.findall(r"(?:-H|--host)[= ](tcp://\S+)", content)
            if found:
                hosts += found
                sources.append(os.path.join(dropin_dir, name))
            tls = tls or "--tlsverify" in content
    running = procs.get("dockerd")
    if running:
        flags = _flags(running["args"])
        live = [h for h in flags.get("H", []) + flags.get("host", []) if h.startswith("tcp://")]
        hosts += [h for h in live if h not in hosts]
        tls = tls or "tlsverify" in flags
    return {"tcp_hosts": hosts, "tls": tls, "sources": sources, "running": running is not None}


def lines(path):
    text = _read(path)
    return None if text is None else [
        [number, line.strip()] for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")]


def firewall(table):
    out = {"table": False, "mode": None, "sets": {}}
    if not shutil.which("nft"):
        return out
    rc, text, _err = _run(["nft", "-j", "list", "table", "inet", table])
    if rc != 0:
        return out
    try:
        items = json.loads(text).get("nftables", [])
    except ValueError:
        return out
    for item in items:
        if "table" in item:
            out["table"] = True
            words = str(item["table"].get("comment", "")).split()
            out["mode"] = words[2] if len(words) > 2 else ("named-ports" if words else None)
        if "set" in item:
            elements = []
            for element in item["set"].get("elem", []):
                if isinstance(element, dict) and "range" in element:
                    low, high = element["range"]
                    elements.append(f"{low}-{high}")
                elif isinstance(element, dict) and "prefix" in element:
                    elements.append(f"{element['prefix']['addr']}/{element['prefix']['len']}")
                else:
                    elements.append(str(element))
            out["sets"][item["set"]["name"]] = elements
    if out["table"] and not out["mode"]:
        # nft -j leaves the table's comment out: the sets say which template wrote it
        out["mode"] = "default-deny" if "public_tcp" in out["sets"] else "named-ports"
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "kubelet_config": {"type": "str", "required": True},
            "kubelet_flag_files": {"type": "list", "elements": "str", "required": True},
            "apiserver_manifest": {"type": "str", "required": True},
            "etcd_manifest": {"type": "str", "required": True},
            "etcd_env_file": {"type": "str", "required": True},
            "registry_config": {"type": "str", "required": True},
            "docker_daemon_json": {"type": "str", "required": True},
            "docker_dropin_dir": {"type": "str", "required": True},
            "exports": {"type": "str", "required": True},
            "hosts_allow": {"type": "str", "required": True},
            "firewall_table": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    procs = processes()
    module.exit_json(changed=False, security={
        "listening": listening(),
        "kubelet": kubelet(p["kubelet_config"], p["kubelet_flag_files"], procs),
        "apiserver": apiserver(p["apiserver_manifest"], procs),
        "etcd": etcd(p["etcd_manifest"], p["etcd_env_file"], procs),
        "registry": registry(p["registry_config"], procs),
        "docker": docker(p["docker_daemon_json"], p["docker_dropin_dir"], procs),
        "exports": lines(p["exports"]),
        "hosts_allow": lines(p["hosts_allow"]),
        "firewall": firewall(p["firewall_table"]),
    })


if __name__ == "__main__":
    main()
