"""The tags a playbook really has, read from the playbook (the one source), and the check every
verb applies to --tags/--skip-tags (and the inventory validation to cluster_bootstrap_skip_tags)
before a host is touched: an unknown tag is a usage error (exit 2) naming it, with the closest real tag.

A playbook's tags are those of its plays and of their tasks (blocks included, `apply: tags` of a
role include too), following `import_playbook`. site.yml's role includes list the role's step
tags (tests/unit/test_site_playbook.py keeps them complete), so the playbook alone is enough."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubemedic import paths

# Ansible's own tags: always valid, never in a playbook's table.
SPECIAL = frozenset({"all", "always", "never", "tagged", "untagged"})
STYLE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

ROLE_MODULES = ("ansible.builtin.include_role", "ansible.builtin.import_role",
                "include_role", "import_role")
_IMPORT_PLAYBOOK = ("ansible.builtin.import_playbook", "import_playbook")


@dataclass
class TagUse:
    """Where one tag stands in a playbook: the plays and the roles it reaches."""

    playbook: str
    plays: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]  # type: ignore[union-attr]


def _role_runs(args: dict) -> str:
    tasks_from = args.get("tasks_from")
    return f"{args.get('name')}" + (f" ({tasks_from})" if tasks_from else "")


def _task_tags(tasks: object) -> list[tuple[str | None, str | None]]:
    """(tag, role the task runs or None) of every task, blocks included; a role task also
    yields (None, role) so the play's own tags reach it."""
    found: list[tuple[str | None, str | None]] = []
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, str):  # `roles: [name]`
            found.append((None, task))
            continue
        if not isinstance(task, dict):
            continue
        role = None
        if "role" in task:  # `roles: [{role: name, tags: [...]}]`
            role = str(task["role"])
            found.append((None, role))
        for module in ROLE_MODULES:
            if isinstance(task.get(module), dict):
                args = task[module]
                role = _role_runs(args)
                found.append((None, role))
                found += [(tag, role) for tag in _as_list((args.get("apply") or {}).get("tags"))]
        found += [(tag, role) for tag in _as_list(task.get("tags"))]
        for key in ("block", "rescue", "always"):
            found += _task_tags(task.get(key))
    return found


def playbook_tags(playbook: str, project: Path | None = None) -> dict[str, TagUse]:
    """{tag: TagUse} of playbooks/<playbook> in order of appearance, Ansible's own tags left out."""
    root = project or paths.project_root()
    uses: dict[str, TagUse] = {}
    _collect(root / "playbooks" / playbook, playbook, uses)
    return uses


def _collect(path: Path, playbook: str, uses: dict[str, TagUse]) -> None:
    for play in yaml.safe_load(path.read_text()) or []:
        if not isinstance(play, dict):
            continue
        imported = next((play[key] for key in _IMPORT_PLAYBOOK if key in play), None)
        if imported:
            _collect(path.parent / imported, playbook, uses)
            continue
        name = str(play.get("name", ""))
        pairs: list[tuple[str | None, str | None]] = []
        for key in ("pre_tasks", "roles", "tasks", "post_tasks", "handlers"):
            pairs += _task_tags(play.get(key))
        play_roles = [role for _tag, role in pairs if role]
        for tag in _as_list(play.get("tags")):
            pairs += [(tag, role) for role in play_roles] or [(tag, None)]
        for tag, role in pairs:
            if tag is None or tag in SPECIAL:
                continue
            use = uses.setdefault(tag, TagUse(playbook=playbook))
            if name not in use.plays:
                use.plays.append(name)
            if role and role not in use.roles:
                use.roles.append(role)


def suggestion(tag: str, known: list[str]) -> str | None:
    """The real tag an unknown one most likely meant (the old underscore spelling first)."""
    hyphenated = tag.replace("_", "-").lower()
    if hyphenated in known:
        return hyphenated
    close = difflib.get_close_matches(hyphenated, known, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown(playbook: str, tags: list[str], project: Path | None = None) -> list[str]:
    """One problem per tag of `tags` the playbook does not have, with the closest real one."""
    if not tags:
        return []
    known = list(playbook_tags(playbook, project))
    problems = []
    for tag in tags:
        if tag in SPECIAL or tag in known:
            continue
        hint = suggestion(tag, known)
        problems.append(f"unknown tag {tag!r}" + (f": did you mean {hint}?" if hint else ""))
    return problems

