"""playbooks/site.yml includes each role under its tag; the include must also carry every step tag
the role's tasks use, or `kubemedic bootstrap --tags sysctl` / `images push` would silently run
nothing (an include whose tags are not selected is never processed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SITE = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
ROLE_PLAYS = [play for play in SITE if "ansible.builtin.import_playbook" not in play]


def _task_tags(tasks: list) -> set[str]:
    tags: set[str] = set()
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        value = task.get("tags", [])
        tags |= set([value] if isinstance(value, str) else value)
        for key in ("block", "rescue", "always"):
            tags |= _task_tags(task.get(key))
    return tags


def _role_step_tags(role: str) -> set[str]:
    tags: set[str] = set()
    for path in (REPO / "roles" / role / "tasks").glob("*.yml"):
        tags |= _task_tags(yaml.safe_load(path.read_text()))
    return tags - {"always", "never"}


def test_every_role_of_the_repo_that_bootstraps_is_in_site() -> None:
    included = {play["tasks"][0]["ansible.builtin.include_role"]["name"] for play in ROLE_PLAYS}
    assert {"common", "container_runtime", "offline_images", "firewall"} <= included


@pytest.mark.parametrize("play", ROLE_PLAYS, ids=lambda p: p["name"])
def test_role_is_included_under_its_tag_with_all_step_tags(play: dict) -> None:
    assert "roles" not in play, "listed roles validate their arguments on every --tags run"
    (task,) = play["tasks"]
    include = task["ansible.builtin.include_role"]
    role = include["name"]
    assert play["tags"] == [role] and include["apply"]["tags"] == [role]
    missing = _role_step_tags(role) - set(task["tags"])
    assert not missing, f"{role}: include lacks step tags {sorted(missing)}"
