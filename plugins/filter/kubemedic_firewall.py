"""Filters of the firewall role: the nftables rules admitting `cluster_public_ports`.

The parsing and the rules live in cli/kubemedic/firewall.py of the same checkout (one copy for
the inventory schema, the role and doctor).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def _firewall():
    if (_CLI_DIR / "kubemedic" / "firewall.py").is_file() and str(_CLI_DIR) not in sys.path:
        sys.path.insert(0, str(_CLI_DIR))
    from kubemedic import firewall

    return firewall


def kubemedic_firewall_rules(public_ports, chain):
    """nftables rule lines (input or forward chain) admitting the public ports."""
    try:
        return _firewall().rules(list(public_ports or []), str(chain))
    except ValueError as exc:
        raise AnsibleFilterError(f"firewall_public_ports: {exc}") from exc


def kubemedic_firewall_ports(public_ports, proto):
    """The admitted ports/ranges of one protocol ("6443", "30000-32767")."""
    try:
        return _firewall().ports(list(public_ports or []), str(proto))
    except ValueError as exc:
        raise AnsibleFilterError(f"firewall_public_ports: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"kubemedic_firewall_rules": kubemedic_firewall_rules,
                "kubemedic_firewall_ports": kubemedic_firewall_ports}
