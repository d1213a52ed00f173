"""recover_steps.yml (what `recover --list` shows) and playbooks/recover.yml stay in sync, and every
recovery step lives in `roles/<owner>/tasks/recover_<step with _>.yml`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubemedic.commands.recover import load_steps
from kubemedic.commands.recover_index import play_entry_points, play_step
from kubemedic.main import cli
from tests.conftest import run_kubemedic
from tests.unit.test_cli import write_inventory

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


@pytest.mark.parametrize("flag", ["--tags", "--skip-tags"])
def test_recover_rejects_tags_before_touching_anything(tmp_path: Path, flag: str) -> None:
    """Issue 17: `recover STEP --tags X` ran step AND X (widened); it now exits 2."""
    write_inventory(tmp_path / "inv", "acme", {"node1": {"ansible_host": "127.0.0.1"}})
    env = {"KUBEMEDIC_INVENTORY_DIR": str(tmp_path / "inv"),
           "KUBEMEDIC_STATE_DIR": str(tmp_path / "state")}
    step = next(s["name"] for s in load_steps() if not s.get("destructive"))
    result = run_kubemedic("recover", step, "-c", "acme", flag, "containerd", env=env)
    assert result.returncode == 2, result.stderr
    assert f"recover {step}: {flag} containerd is not accepted" in result.stderr
    assert "--limit" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "runs").exists()


def test_every_play_imports_its_steps_recover_file_from_an_existing_role_file() -> None:
    for play in recover_plays():
        step = play_step(play)
        expected = f"recover_{step.replace('-', '_')}.yml"
        entries = play_entry_points(play)
        assert entries, f"{step}: the play imports no role"
        for role, tasks_from in entries:
            assert tasks_from == expected, f"{step}: imports {role}/{tasks_from}, not {expected}"
            assert (REPO / "roles" / role / "tasks" / tasks_from).is_file(), \
                f"{step}: roles/{role}/tasks/{tasks_from} does not exist"


def test_every_recover_tasks_file_is_a_step_entry_point() -> None:
    imported = {(role, tasks_from) for play in recover_plays()
                for role, tasks_from in play_entry_points(play)}
    stray = sorted(str(path.relative_to(REPO)) for path in (REPO / "roles").glob("*/tasks/recover_*")
                   if (path.parent.parent.name, path.name) not in imported)
    assert not stray, f"recover_* task files no recover.yml play imports: {stray}"


def test_list_shows_role_and_file_read_from_recover_yml() -> None:
    result = CliRunner().invoke(cli, ["recover", "--list", "--json"])
    assert result.exit_code == 0, result.output
    steps = {step["name"]: step for step in json.loads(result.output)}
    assert steps["disk-cleanup"]["role"] == "common"
    assert steps["disk-cleanup"]["file"] == "roles/common/tasks/recover_disk_cleanup.yml"
    assert steps["kernel-driver"]["role"] == ["nvidia_driver", "ascend_driver"]
    assert steps["kernel-driver"]["file"] == ["roles/nvidia_driver/tasks/recover_kernel_driver.yml",
                                              "roles/ascend_driver/tasks/recover_kernel_driver.yml"]
    for name, step in steps.items():
        files = [step["file"]] if isinstance(step["file"], str) else step["file"]
        assert files and all((REPO / f).is_file() for f in files), name
    table = CliRunner().invoke(cli, ["recover", "--list"]).output
    assert "role" in table and "file" in table
    assert "roles/kube_api/tasks/recover_probe_timeout.yml" in table


# Steps no lab test drills yet, each with why (issue 14). The set must stay exact: a step that
# gains a drill must leave it (and the drill must name the step), a step that loses its
# drilled_by fails the test below.
NOT_DRILLED_YET: dict[str, str] = {}


def _drill_strings(test_ref: str) -> set[str]:
    """Every string literal of the named test function and of the module-level tables it reads."""
    import ast
    path, _, name = test_ref.partition("::")
    name = name.split("[", 1)[0]
    tree = ast.parse((REPO / path).read_text())
    tables = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
              for target in node.targets if isinstance(target, ast.Name)}
    func = next((node for node in tree.body if isinstance(node, ast.FunctionDef)
                 and node.name == name), None)
    assert func is not None, f"{test_ref}: no test function {name} in {path}"
    found = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and node.id in tables:
            found |= {c.value for c in ast.walk(tables[node.id])
                      if isinstance(c, ast.Constant) and isinstance(c.value, str)}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_every_step_is_drilled_by_a_lab_test_naming_it() -> None:
    steps = {s["name"]: s for s in load_steps()}
    assert set(NOT_DRILLED_YET) <= set(steps), set(NOT_DRILLED_YET) - set(steps)
    undrilled = {name for name, step in steps.items() if not step.get("drilled_by")}
    assert undrilled == set(NOT_DRILLED_YET), (
        f"steps without drilled_by: {sorted(undrilled - set(NOT_DRILLED_YET))}; "
        f"drilled now, remove from NOT_DRILLED_YET: {sorted(set(NOT_DRILLED_YET) - undrilled)}")
    for name, step in steps.items():
        if name in undrilled:
            continue
        ref = step["drilled_by"]
        assert ref.startswith("tests/integration/") and (REPO / ref.split("::")[0]).is_file(), ref
        # Words of the literals, f-string parts included (`f"kubemedic recover {step} ..."`).
        words = {word for text in _drill_strings(ref) for word in text.split()}
        assert name in words, f"{name}: {ref} never names the step"
        assert "recover" in words, f"{name}: {ref} never runs `kubemedic recover`"


def test_list_shows_who_drills_each_step() -> None:
    listed = json.loads(CliRunner().invoke(cli, ["recover", "--list", "--json"]).output)
    by_name = {s["name"]: s for s in listed}
    assert by_name["registry-gc"]["drilled_by"].startswith("tests/integration/test_drills.py::")
    assert by_name["nfs-remount"]["drilled_by"].startswith("tests/integration/test_storage_lab.py::")
    table = CliRunner().invoke(cli, ["recover", "--list"]).output
    assert "drilled by" in table and "test_drills.py::" in table
    for name in NOT_DRILLED_YET:
        assert by_name[name]["drilled_by"] is None, name
    assert ("no drill yet" in table) == bool(NOT_DRILLED_YET)
