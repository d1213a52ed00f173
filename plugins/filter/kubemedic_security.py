"""Filters of doctor's security checks and of the recovery steps that close what they find
(issue 20): the ports doctor tries from outside, kubelet's config without anonymous auth and
read-only port, docker's daemon.json without unprotected TCP sockets. doctor's judgements live in
cli/kubemedic/doctor/security.py of the same checkout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError

_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def kubemedic_security_ports(security: Any) -> list[int]:
    """TCP ports the node listens on beyond loopback (kubemedic_security_probe's result)."""
    if (_CLI_DIR / "kubemedic" / "doctor" / "security.py").is_file() and \
            str(_CLI_DIR) not in sys.path:
        sys.path.insert(0, str(_CLI_DIR))
    from kubemedic.doctor import security as checks

    return checks.public_ports(dict(security or {}))


def kubemedic_kubelet_harden(text: str) -> str:
    """kubelet's config (KubeletConfiguration YAML) with authentication.anonymous.enabled false
    and readOnlyPort 0; the text unchanged when it already says so (idempotent, no reformat)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise AnsibleFilterError(f"kubelet config does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise AnsibleFilterError("kubelet config is not a mapping (KubeletConfiguration)")
    auth = data.setdefault("authentication", {}) or {}
    data["authentication"] = auth
    anonymous = auth.setdefault("anonymous", {}) or {}
    auth["anonymous"] = anonymous
    if anonymous.get("enabled") is False and data.get("readOnlyPort", 0) == 0:
        return text
    anonymous["enabled"] = False
    data["readOnlyPort"] = 0
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def kubemedic_docker_without_tcp(text: str) -> str:
    """daemon.json without tcp:// entries in "hosts" unless docker verifies TLS clients; the
    text unchanged when there is nothing to remove."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise AnsibleFilterError(f"daemon.json does not parse: {exc} (recover daemon-json)") from exc
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not hosts or data.get("tlsverify"):
        return text
    kept = [h for h in hosts if not str(h).startswith("tcp://")]
    if kept == hosts:
        return text
    if kept:
        data["hosts"] = kept
    else:
        del data["hosts"]
    return json.dumps(data, indent=2) + "\n"


class FilterModule:
    def filters(self):
        return {"kubemedic_security_ports": kubemedic_security_ports,
                "kubemedic_kubelet_harden": kubemedic_kubelet_harden,
                "kubemedic_docker_without_tcp": kubemedic_docker_without_tcp}
