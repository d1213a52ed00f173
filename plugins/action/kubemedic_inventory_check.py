"""Action plugin: validate the inventory with kubemedic's own validator (no host contacted).

The validator lives in cli/kubemedic/inventory/validate.py of the same checkout, so plain
ansible-playbook and AWX runs enforce exactly what `kubemedic inventory check` enforces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.plugins.action import ActionBase

# Documentation (ansible-doc, ansible-test): plugins/modules/kubemedic_inventory_check.py.
_CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def _import_validator():
    try:
        from kubemedic.inventory import validate
    except ImportError:
        sys.path.insert(0, str(_CLI_DIR))
        from kubemedic.inventory import validate
    return validate


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        validate = _import_validator()
        hostvars = task_vars.get("hostvars", {})
        groups = {name: list(members) for name, members in task_vars.get("groups", {}).items()}
        # The inventory's own values only: kubemedic_* are values playbooks/group_vars derives from
        # it (kubemedic_first_master reads hostvars, which a host's own variables cannot see).
        hosts = {name: {key: hostvars[name][key] for key in hostvars[name]
                        if not key.startswith("kubemedic_")}
                 for name in hostvars}
        source = str(task_vars.get("inventory_file") or "inventory")
        data = validate.InventoryData(hosts=hosts, groups=groups,
                                      locate=lambda host, field: source)
        problems = validate.validate(data)
        result["changed"] = False
        if problems:
            result["failed"] = True
            result["problems"] = [str(p) for p in problems]
            result["msg"] = (f"inventory is invalid ({len(problems)} problems; nothing was run): "
                             + " | ".join(result["problems"]))
        else:
            result["msg"] = f"inventory valid ({len(data.cluster_hosts())} cluster hosts)"
        return result
