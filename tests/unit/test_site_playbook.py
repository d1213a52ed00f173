"""playbooks/site.yml includes each role under its tag; the include must also carry every step tag
the role's tasks use, or `kubemedic bootstrap --tags sysctl` / `images push` would silently run
nothing (an include whose tags are not selected is never processed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SITE = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
ROLE_PLAYS = [play for play in SITE
              if any("ansible.builtin.include_role" in task for task in play.get("tasks", []))]


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
    # the role's tag: its name, or the same with hyphens (the tag style new roles use)
    tag = [role] if play["tags"] == [role] else [role.replace("_", "-")]
    assert play["tags"] == tag and include["apply"]["tags"] == tag
    missing = _role_step_tags(role) - set(task["tags"])
    assert not missing, f"{role}: include lacks step tags {sorted(missing)}"


def test_facts_are_gathered_before_any_role_whatever_the_tags() -> None:
    """Steps read facts (hostname, swaptotal_mb, kernel, env); a play's own gathering is tagged
    with the play's tag only, so `--tags swap` would reach common's swap step without facts."""
    first_role = SITE.index(ROLE_PLAYS[0])
    facts = [play for play in SITE[:first_role]
             if any("ansible.builtin.gather_facts" in task and "always" in task.get("tags", [])
                    for task in play.get("tasks", []))]
    assert facts and facts[0]["hosts"] == "cluster"
