"""Where each recovery step lives, read from playbooks/recover.yml (the one source): the play
tagged with the step imports `roles/<role>/tasks/recover_<step with _>.yml` of the role (or roles,
e.g. kernel-driver) owning the repaired component."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubemedic import paths, playbook_tags


def recover_plays(project: Path | None = None) -> list[dict]:
    """The step plays of playbooks/recover.yml (the validate import left out)."""
    root = project or paths.project_root()
    plays = yaml.safe_load((root / "playbooks" / "recover.yml").read_text()) or []
    return [play for play in plays if isinstance(play, dict) and "hosts" in play]


def play_step(play: dict) -> str:
    return next(tag for tag in play.get("tags", []) if tag != "never")


def play_entry_points(play: dict) -> list[tuple[str, str]]:
    """(role, tasks file) of every role task of the play, in order."""
    found = []
    for task in [*(play.get("pre_tasks") or []), *(play.get("tasks") or [])]:
        for module in playbook_tags.ROLE_MODULES:
            if module in task:
                args = task[module] or {}
                found.append((args["name"], args.get("tasks_from", "main.yml")))
    return found


def step_locations(project: Path | None = None) -> dict[str, list[dict[str, str]]]:
    """{step: [{role, file}]}, file relative to the project root."""
    return {play_step(play): [{"role": role, "file": f"roles/{role}/tasks/{tasks_from}"}
                              for role, tasks_from in play_entry_points(play)]
            for play in recover_plays(project)}
