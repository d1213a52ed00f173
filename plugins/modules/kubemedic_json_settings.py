#!/usr/bin/python
"""Manage a JSON config file as data: keys kubemedic owns are merged over what is already there.

Used for /etc/docker/daemon.json (container_runtime, nvidia_runtime) and the docker client's
~/.docker/config.json (registry auth). Keys the caller does not pass are never touched.
With state=inspected it only reads: is the file a JSON object, and which of its backups is
the newest that is one (`recover daemon-json`).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubemedic_json_settings
short_description: Merge owned keys into a JSON config file, validated, atomically, with backup
description:
  - Reads the JSON object at I(path) (a missing or empty file counts as C({})), deep-merges
    I(settings) over it (objects merge key by key, lists and scalars are replaced) and removes
    the top-level keys in I(remove). Keys neither set nor removed are kept as they are.
  - The result is validated before it is written; an invalid result fails the task and the
    file on disk is left untouched. With I(profile=docker-daemon) the result is checked like
    dockerd does (unknown directives, value types, log-opts sizes, insecure registries without
    a scheme, default-runtime defined, no directive also given as a dockerd flag) and, when
    I(validate_cmd) is given, by that command too (e.g. C(dockerd --validate --config-file %s)).
  - Written atomically (temporary file + rename) with an optional timestamped backup.
  - With I(state=inspected) nothing is written; the module reports whether I(path) holds a
    JSON object (missing or empty counts as one) and the newest of its backups (C(path.*~),
    as I(backup) makes them, by modification time) that does. Used by C(recover daemon-json)
    to repair a hand edit dockerd refuses to read.
  - Supports check mode and diff mode.
options:
  path: {description: File to manage., type: path, required: true}
  settings: {description: Owned keys and their values (deep-merged)., type: dict, default: {}}
  remove: {description: Top-level keys to delete if present., type: list, elements: str, default: []}
  profile: {description: Validation profile., type: str, choices: [docker-daemon, plain], default: plain}
  validate_cmd: {description: Extra validator run on the candidate file (C(%s) = its path)., type: str}
  cmdline_flags: {description: The daemon's command line; a directive also given there as a flag is refused., type: str, default: ""}
  backup: {description: Keep a timestamped copy of the old file., type: bool, default: true}
  mode: {description: File mode., type: raw, default: "0644"}
  state:
    description:
      - C(merged) merges I(settings) and I(remove) into the file.
      - C(inspected) only reads the file and its backups (I(settings), I(remove), I(profile),
        I(validate_cmd) and I(backup) are ignored) and never changes anything.
    type: str
    choices: [merged, inspected]
    default: merged
author: kubemedic maintainers (@kubemedic)
"""

EXAMPLES = r"""
- name: Container runtime | daemon.json
  kubemedic_json_settings:
    path: /etc/docker/daemon.json
    profile: docker-daemon
    settings:
      log-driver: json-file
      log-opts: {max-size: 100m, max-file: "3"}

- name: Daemon.json | is it a valid JSON object, and which backup is
  kubemedic_json_settings:
    path: /etc/docker/daemon.json
    state: inspected
  register: daemon_json_state
"""

RETURN = r"""
content: {description: The merged document., type: dict, returned: state=merged}
backup_file: {description: "Path of the backup, when one was made.", type: str, returned: changed}
valid:
  description: The file is a JSON object (a missing or empty file counts as one).
  type: bool
  returned: state=inspected
error:
  description: Why the file is not a JSON object (the parse error); empty when I(valid).
  type: str
  returned: state=inspected
valid_backup:
  description: Newest backup of the file (C(path.*~), by mtime) that is a JSON object; empty when none.
  type: str
  returned: state=inspected
"""

import glob
import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

# dockerd's daemon.json directives (docker 20.10 .. 27). Unknown directives make dockerd refuse
# to start ("the following directives don't match any configuration option"), so we refuse first.
DOCKER_DAEMON_KEYS = frozenset([
    "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins", "bip", "bip6",
    "bridge", "builder", "cdi-spec-dirs", "cgroup-parent", "cluster-advertise", "cluster-store",
    "cluster-store-opts", "containerd", "containerd-namespace", "containerd-plugin-namespace",
    "cpu-rt-period", "cpu-rt-runtime", "cri-containerd", "data-root", "debug",
    "default-address-pools", "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
    "default-ipc-mode", "default-network-opts", "default-runtime", "default-shm-size",
    "default-ulimits", "dns", "dns-opts", "dns-search", "exec-opts", "exec-root", "experimental",
    "features", "fixed-cidr", "fixed-cidr-v6", "graph", "group", "host-gateway-ip", "hosts", "icc",
    "init", "init-path", "insecure-registries", "ip", "ip-forward", "ip-forward-no-drop", "ip-masq",
    "ip6tables", "iptables", "ipv6", "labels", "live-restore", "log-driver", "log-format",
    "log-level", "log-opts", "max-concurrent-downloads", "max-concurrent-uploads",
    "max-download-attempts", "metrics-addr", "min-api-version", "mtu", "network-control-plane-mtu",
    "no-new-privileges", "node-generic-resources", "oom-score-adjust", "pidfile", "proxies",
    "raw-logs", "registry-mirrors", "rootless", "runtimes", "seccomp-profile", "selinux-enabled",
    "shutdown-timeout", "storage-driver", "storage-opts", "swarm-default-advertise-addr", "tls",
    "tlscacert", "tlscert", "tlskey", "tlsverify", "userland-proxy", "userland-proxy-path",
    "userns-remap", "validate", "disable-legacy-registry"
])

_TYPES = {
    bool: ("debug", "experimental", "icc", "ip-forward", "ip-masq", "ip6tables", "iptables",
           "ipv6", "live-restore", "no-new-privileges", "raw-logs", "selinux-enabled", "tls",
           "tlsverify", "userland-proxy", "init"),
    int: ("max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "mtu",
          "shutdown-timeout", "oom-score-adjust"),
    str: ("bip", "bridge", "cgroup-parent", "data-root", "default-runtime", "exec-root", "group",
          "log-driver", "log-level", "storage-driver", "pidfile", "userns-remap",
          "default-shm-size", "containerd"),
    list: ("authorization-plugins", "dns", "dns-opts", "dns-search", "exec-opts", "hosts",
           "insecure-registries", "labels", "registry-mirrors", "storage-opts",
           "allow-nondistributable-artifacts", "default-address-pools"),
    dict: ("log-opts", "runtimes", "default-ulimits", "features", "builder", "proxies"),
}
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*([kKmMgG][bB]?)?$")
_FLAG = re.compile(r"(?:^|\s)--?([a-z][a-z0-9-]*)(?:[=\s]|$)")
# dockerd flags whose daemon.json directive has a different name.
_FLAG_ALIASES = {"H": "hosts", "host": "hosts", "g": "data-root", "D": "debug", "G": "group",
                 "l": "log-level", "s": "storage-driver", "b": "bridge", "p": "pidfile",
                 "log-opt": "log-opts", "insecure-registry": "insecure-registries",
                 "registry-mirror": "registry-mirrors", "exec-opt": "exec-opts",
                 "storage-opt": "storage-opts", "label": "labels", "add-runtime": "runtimes",
                 "default-ulimit": "default-ulimits", "authorization-plugin": "authorization-plugins"}


def deep_merge(base, overlay):
    """Return base with overlay merged in: dicts recursively, everything else replaced."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def merge_document(current, settings, remove):
    merged = deep_merge(current, settings or {})
    for key in remove or ():
        merged.pop(key, None)
    return merged


def flags_in(cmdline):
    """Directive names given as flags on a dockerd command line (`-H fd://`, `--data-root=/x`)."""
    names = set()
    for flag in _FLAG.findall(cmdline or ""):
        names.add(_FLAG_ALIASES.get(flag, flag))
    return names


def docker_daemon_problems(doc, cmdline=""):
    """Everything dockerd would refuse in this daemon.json, as readable messages."""
    problems = []
    if not isinstance(doc, dict):
        return ["daemon.json must be a JSON object"]
    unknown = sorted(set(doc) - DOCKER_DAEMON_KEYS)
    if unknown:
        problems.append("the following directives don't match any configuration option: "
                        + ", ".join(unknown))
    for typ, keys in _TYPES.items():
        for key in keys:
            if (key in doc and not isinstance(doc[key], typ)) or (
                    typ is int and isinstance(doc.get(key), bool)):
                problems.append(f"{key}: expected {typ.__name__}, got {type(doc[key]).__name__} "
                                f"{doc[key]!r}")
    for key in ("dns", "dns-search", "dns-opts", "exec-opts", "hosts", "insecure-registries",
                "labels", "registry-mirrors", "storage-opts"):
        if isinstance(doc.get(key), list) and not all(isinstance(v, str) for v in doc[key]):
            problems.append(f"{key}: every entry must be a string")
    opts = doc.get("log-opts")
    if isinstance(opts, dict):
        for name, value in opts.items():
            if not isinstance(value, str):
                problems.append(f"log-opts.{name}: must be a string (dockerd: cannot unmarshal "
                                f"{type(value).__name__} into string), got {value!r}")
        if isinstance(opts.get("max-size"), str) and not _SIZE.match(opts["max-size"]):
            problems.append(f"log-opts.max-size: {opts['max-size']!r} is not a size like 100m")
        max_file = opts.get("max-file")
        if isinstance(max_file, str) and not (max_file.isdigit() and int(max_file) >= 1):
            problems.append(f"log-opts.max-file: {max_file!r} is not a positive integer")
        if "max-file" in opts and "max-size" not in opts:
            problems.append("log-opts.max-file needs log-opts.max-size")
    root = doc.get("data-root")
    if isinstance(root, str) and not root.startswith("/"):
        problems.append(f"data-root: {root!r} must be an absolute path")
    for entry in doc.get("insecure-registries") or []:
        if isinstance(entry, str) and "://" in entry:
            problems.append(f"insecure-registries: insecure registry {entry} should not contain "
                            "'://'")
    for entry in doc.get("registry-mirrors") or []:
        if isinstance(entry, str) and not re.match(r"^https?://[^/\s]+", entry):
            problems.append(f"registry-mirrors: {entry!r} must be an http:// or https:// URL")
    for opt in doc.get("exec-opts") or []:
        if isinstance(opt, str) and opt.startswith("native.cgroupdriver="):
            driver = opt.split("=", 1)[1]
            if driver not in ("systemd", "cgroupfs"):
                problems.append(f"exec-opts: cgroup driver {driver!r} is not systemd or cgroupfs")
    runtimes = doc.get("runtimes")
    if isinstance(runtimes, dict):
        for name, spec in runtimes.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
                problems.append(f"runtimes.{name}: needs a \"path\" string")
            elif not isinstance(spec.get("runtimeArgs", []), list):
                problems.append(f"runtimes.{name}.runtimeArgs: must be a list")
    default_runtime = doc.get("default-runtime")
    if isinstance(default_runtime, str) and default_runtime not in ("runc", "io.containerd.runc.v2") \
            and default_runtime not in (runtimes if isinstance(runtimes, dict) else {}):
        problems.append(f"default-runtime: {default_runtime!r} is not runc and not defined "
                        "under runtimes")
    both = sorted(flags_in(cmdline) & set(doc))
    if both:
        problems.append("the following directives are specified both as a flag and in the "
                        f"configuration file: {', '.join(both)} (dockerd command line: "
                        f"{cmdline.strip()})")
    return problems


def read_document(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, {}
    if not text.strip():
        return text, {}
    data = json.loads(text)  # a broken existing file is reported by the caller
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return text, data


def inspect_document(path):
    """(valid, error) for the file at path: valid when it is a JSON object, missing or empty.

    A file that cannot be read at all (a directory, no permission) raises OSError: that is not
    a broken hand edit a backup can repair."""
    try:
        read_document(path)
    except (ValueError, UnicodeDecodeError) as exc:
        return False, str(exc)
    return True, ""


def newest_valid_backup(path):
    """The newest backup of path (`path.*~`, by mtime) that holds a JSON object, or ''."""
    def mtime(candidate):
        try:
            return os.path.getmtime(candidate)
        except OSError:
            return 0.0

    for candidate in sorted(glob.glob(glob.escape(path) + ".*~"), key=mtime, reverse=True):
        try:
            with open(candidate, encoding="utf-8") as handle:
                if isinstance(json.load(handle), dict):
                    return candidate
        except (OSError, ValueError):
            continue
    return ""


def render(doc):
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "settings": {"type": "dict", "default": {}},
            "remove": {"type": "list", "elements": "str", "default": []},
            "profile": {"type": "str", "choices": ["docker-daemon", "plain"],
                        "default": "plain"},
            "validate_cmd": {"type": "str"},
            "cmdline_flags": {"type": "str", "default": ""},
            "backup": {"type": "bool", "default": True},
            "mode": {"type": "raw", "default": "0644"},
            "state": {"type": "str", "choices": ["merged", "inspected"], "default": "merged"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    if module.params["state"] == "inspected":
        try:
            valid, error = inspect_document(path)
        except OSError as exc:
            module.fail_json(msg=f"{path}: cannot read it ({exc.strerror or exc})", path=path)
        module.exit_json(changed=False, path=path, valid=valid, error=error,
                         valid_backup=newest_valid_backup(path))
    try:
        old_text, current = read_document(path)
    except (ValueError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"{path}: the existing file is not a valid JSON object ({exc}); "
                             "fix or move it away, nothing was changed", path=path)
    merged = merge_document(current, module.params["settings"], module.params["remove"])
    if module.params["profile"] == "docker-daemon":
        problems = docker_daemon_problems(merged, module.params["cmdline_flags"])
        if problems:
            module.fail_json(msg=f"{path}: refusing to write an invalid result (old file kept, "
                                 "docker not restarted): " + "; ".join(problems),
                             problems=problems, candidate=merged, path=path)
    new_text = render(merged)
    # Semantically equal documents (key order, whitespace) are not rewritten.
    changed = merged != current or old_text is None
    result = {"changed": changed, "path": path, "content": merged}
    if module._diff:
        result["diff"] = {"before": render(current) if old_text is not None else "",
                          "after": new_text, "before_header": path, "after_header": path}
    if not changed or module.check_mode:
        module.exit_json(**result)

    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubemedic-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_text)
            handle.flush()
            os.fsync(handle.fileno())
        if module.params["validate_cmd"]:
            cmd = module.params["validate_cmd"]
            if "%s" not in cmd:
                module.fail_json(msg="validate_cmd must contain %s")
            rc, out, err = module.run_command(cmd % tmp, use_unsafe_shell=False)
            if rc != 0:
                module.fail_json(msg=f"{path}: validator `{cmd}` refused the result (old file "
                                     f"kept, docker not restarted): {(err or out).strip()}",
                                 candidate=merged, path=path)
        if module.params["backup"] and old_text is not None:
            result["backup_file"] = module.backup_local(path)
        mode = module.params["mode"]
        os.chmod(tmp, int(mode, 8) if isinstance(mode, str) else mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
