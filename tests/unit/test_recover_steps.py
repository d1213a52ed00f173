"""recover_steps.yml (what `recover --list` shows) and playbooks/recover.yml stay in sync."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubemedic.commands.recover import load_steps

REPO = Path(__file__).resolve().parents[2]


def recover_plays() -> list[dict]:
    return [p for p in yaml.safe_load((REPO / "playbooks" / "recover.yml").read_text())
            if "hosts" in p]


def test_every_step_has_exactly_one_play_tagged_step_and_never() -> None:
    steps = [s["name"] for s in load_steps()]
    assert len(steps) == len(set(steps)), "duplicate step names"
    tagged: dict[str, int] = {}
    for play in recover_plays():
        tags = play.get("tags", [])
        assert "never" in tags, f"play {play['name']!r} would run on every recover call"
        for tag in tags:
            if tag != "never":
                tagged[tag] = tagged.get(tag, 0) + 1
    for step in steps:
        assert tagged.get(step) == 1, f"step {step!r} needs exactly one play in recover.yml"
    assert set(tagged) <= set(steps), f"plays without a recover_steps.yml entry: " \
                                      f"{set(tagged) - set(steps)}"


def test_steps_are_documented() -> None:
    for step in load_steps():
        assert step["symptom"].strip(), step["name"]
        assert isinstance(step["destructive"], bool), step["name"]


def test_destructive_steps_confirm_first() -> None:
    destructive = {s["name"] for s in load_steps() if s["destructive"]}
    for play in recover_plays():
        step = next(t for t in play["tags"] if t != "never")
        if step in destructive:
            first = (play.get("pre_tasks") or play.get("tasks") or [{}])[0]
            target = first.get("ansible.builtin.import_tasks") or first.get(
                "ansible.builtin.include_tasks") or ""
            assert target.endswith("confirm.yml"), f"{step}: first task must be confirm.yml"
