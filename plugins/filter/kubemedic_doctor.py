"""Filter `kubemedic_doctor_findings`: evaluate a node's probe into doctor findings.

The checks and the knowledge base live in cli/kubemedic/doctor/ of the same checkout (one copy
for the CLI, plain ansible-playbook and AWX).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def _checks():
    try:
        from kubemedic.doctor import checks
    except ImportError:
        sys.path.insert(0, str(_CLI_DIR))
        from kubemedic.doctor import checks
    return checks


def kubemedic_doctor_findings(probe, host, settings):
    """List of findings (dicts) for `host` from its kubemedic_doctor_probe result; `settings`
    carries every threshold (the doctor role passes them from its defaults)."""
    try:
        return _checks().evaluate(str(host), dict(probe or {}), dict(settings or {}))
    except ValueError as exc:
        raise AnsibleFilterError(f"kubemedic_doctor_findings: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"kubemedic_doctor_findings": kubemedic_doctor_findings}
