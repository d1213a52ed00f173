"""The values playbooks/group_vars/all/kubemedic.yml derives once, rendered with ansible-core's
Templar: kubemedic_state_dir finds the same folder as cli/kubemedic/paths.py state_dir() (so the
CLI and plain ansible-playbook / AWX runs agree), and the other derived values follow it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

from kubemedic import paths

REPO = Path(__file__).resolve().parents[2]
init_plugin_loader()  # lookups (env) and filters resolve as in a playbook run
GROUP_VARS = yaml.safe_load((REPO / "playbooks" / "group_vars" / "all" / "kubemedic.yml").read_text())


def render(name: str, **extra: object) -> object:
    variables = {key: trust_as_template(value) if isinstance(value, str) else value
                 for key, value in GROUP_VARS.items()}
    variables.update(extra)
    return Templar(loader=DataLoader(), variables=variables).template(variables[name])


@pytest.mark.parametrize("env", [
    {"KUBEMEDIC_STATE_DIR": "/srv/km-state"},
    {"KUBEMEDIC_STATE_DIR": "/srv/km-state", "XDG_DATA_HOME": "/srv/xdg"},
    {"XDG_DATA_HOME": "/srv/xdg"},
    {},
    {"KUBEMEDIC_STATE_DIR": "~/elsewhere"},
    {"XDG_DATA_HOME": "~/xdg"},
], ids=["state-env", "state-env-wins", "xdg", "home", "state-env-tilde", "xdg-tilde"])
def test_state_dir_matches_paths_state_dir(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("KUBEMEDIC_STATE_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert render("kubemedic_state_dir") == str(paths.state_dir())
    assert render("kubemedic_backup_dir") == f"{paths.state_dir()}/playbook-runs/backups"


def test_cli_runs_take_the_state_dir_and_backups_from_the_run_record(tmp_path: Path) -> None:
    record = tmp_path / "state" / "runs" / "acme" / "20260101T000000Z-recover"
    assert render("kubemedic_state_dir", kubemedic_record_dir=str(record)) == str(tmp_path / "state")
    assert render("kubemedic_backup_dir", kubemedic_record_dir=str(record)) == f"{record}/backups"


@pytest.mark.parametrize(("masters", "flags", "expected"), [
    (["m1", "m2", "m3"], {"m2": True}, "m2"),
    (["m1", "m2"], {"m1": False}, "m1"),
    (["m1", "m2"], {}, "m1"),
    ([], {}, ""),
])
def test_first_master(masters: list[str], flags: dict[str, bool], expected: str) -> None:
    hostvars = {name: {"inventory_hostname": name, **({"first_master": flags[name]} if name in flags else {})}
                for name in masters}
    groups = {"masters": masters} if masters else {}
    assert render("kubemedic_first_master", groups=groups, hostvars=hostvars) == expected


@pytest.mark.parametrize(("inventory", "expected"), [
    ({}, "docker"), ({"cluster_container_runtime": "containerd"}, "containerd")])
def test_container_runtime(inventory: dict[str, str], expected: str) -> None:
    assert render("kubemedic_container_runtime", **inventory) == expected
