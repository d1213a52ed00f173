"""The settings the doctor role passes to the kubemedic_doctor_findings filter, rendered with
ansible-core's Templar from roles/doctor/tasks/main.yml, defaults/main.yml (the one place doctor's
thresholds are defined), vars/main.yml and the playbooks' shared group_vars (kubemedic_*): unit
tests evaluate probes with what a run uses."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "doctor"


def _trusted(value: Any) -> Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


@functools.cache
def _rendered(groups: tuple[str, ...]) -> dict[str, Any]:
    init_plugin_loader()
    defaults = {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
                **yaml.safe_load((ROLE / "vars" / "main.yml").read_text())}
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    settings = next(task for task in tasks if "ansible.builtin.set_fact" in task)["vars"]
    shared = yaml.safe_load((REPO / "playbooks" / "group_vars" / "all" / "kubemedic.yml").read_text())
    variables = {**_trusted(shared), **_trusted(defaults), "group_names": list(groups),
                 "inventory_hostname": "node1", "role_path": str(ROLE),
                 "groups": {"masters": []}, "hostvars": {}}
    return Templar(loader=DataLoader(), variables=variables).template(
        _trusted(settings["_doctor_settings"]))


def role_settings(**overrides: Any) -> dict[str, Any]:
    """What the doctor role passes for a host in `groups` (default: workers), then overrides."""
    groups = tuple(overrides.get("groups") or ["workers"])
    return {**_rendered(groups), **overrides}
