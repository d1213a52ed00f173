"""Filter `kubemedic_heal_plan`: decide GPU Xid healing by policy from heal.yml's scan;
`kubemedic_heal_app_strings`: what the scan greps pod logs for.

The parser, the policy (validation, defaults in cli/kubemedic/data/xid-policy-default.yml) and
the decision engine live in cli/kubemedic/heal/ of the same checkout: one copy for
`kubemedic heal`, plain ansible-playbook and AWX. They need only PyYAML, which Ansible has.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def _heal():
    # The checkout's own copy first (it matches these playbooks), else an installed kubemedic
    # (a wheel carries the plugins under kubemedic/_content/ansible_collections/kubemedic/cluster/,
    # without cli/).
    if (_CLI_DIR / "kubemedic" / "heal" / "plan.py").is_file() and str(_CLI_DIR) not in sys.path:
        sys.path.insert(0, str(_CLI_DIR))
    from kubemedic.heal import plan, policy

    return plan, policy


def kubemedic_heal_app_strings(_unused=None):
    """The fixed strings heal's scan greps pod logs for (xid-catalog.yml `application`)."""
    _heal()
    from kubemedic.heal import xid

    return xid.application_strings()


def kubemedic_heal_plan(scan, policy_file="", inventory_dir="", dry_run=False):
    """Findings, decisions and plan (a dict, see kubemedic.heal.plan.heal_record) for `scan`.

    policy_file: the policy to apply; empty = <inventory_dir>/xid-policy.yml when it exists,
    else the packaged defaults. An invalid policy fails the task, naming file and field.
    """
    plan, policy = _heal()
    try:
        chosen = policy.load_policy(policy.policy_path(policy_file or None, inventory_dir or None))
    except policy.PolicyError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return plan.heal_record(chosen, dict(scan or {}), dry_run=_bool(dry_run))


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class FilterModule:
    def filters(self):
        return {"kubemedic_heal_plan": kubemedic_heal_plan,
                "kubemedic_heal_app_strings": kubemedic_heal_app_strings}
