"""`kubemedic lab drill`: faults listed in drills.yml and tagged in drill.yml stay in sync, and the
verb refuses (exit 2, nothing run) anything that is not a rehearsal-lab inventory."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from kubemedic.commands.drill import load_faults
from kubemedic.main import cli

REPO = Path(__file__).resolve().parents[2]


def drill_plays() -> list[dict]:
    return [p for p in yaml.safe_load((REPO / "playbooks" / "drill.yml").read_text())
            if "hosts" in p]


def test_every_fault_has_one_play_tagged_fault_and_never() -> None:
    faults = [f["name"] for f in load_faults()]
    tagged = [t for p in drill_plays() for t in p["tags"] if t not in ("never", "always")]
    assert sorted(faults) == sorted(tagged)
    for play in drill_plays():
        assert "never" in play["tags"] or play["tags"] == ["always"], play["name"]
    first = drill_plays()[0]
    assert first["tags"] == ["always"] and first["roles"] == [{"role": "lab_drill"}]


def test_every_fault_has_its_task_file() -> None:
    for fault in load_faults():
        name = fault["name"].replace("-", "_")
        assert (REPO / "roles" / "lab_drill" / "tasks" / f"{name}.yml").is_file(), name


def test_refuses_a_customer_inventory(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--inventory-dir", str(REPO / "inventories"), "lab", "drill",
                                      "-c", "example", "docker-stopped", "--limit", "node1"])
    assert result.exit_code == 2, result.output
    assert "not a rehearsal lab" in result.output


def test_unknown_fault_is_refused_before_the_inventory_is_read() -> None:
    result = CliRunner().invoke(cli, ["lab", "drill", "-c", "nosuch", "melt-the-gpu"])
    assert result.exit_code == 2, result.output
    assert "unknown fault" in result.output


def test_list_needs_no_lab() -> None:
    result = CliRunner().invoke(cli, ["lab", "drill", "--list"])
    assert result.exit_code == 0
    assert "broken-docker-list" in result.output
