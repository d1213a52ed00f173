"""plugins/modules/kubemedic_json_settings.py, state=inspected: the checks `recover daemon-json`
makes before it replaces a daemon.json (is it a JSON object; which backup is the newest that is
one). A wrong "valid" leaves dockerd unable to start; a wrong backup restores stale settings."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_json_settings",
    Path(__file__).resolve().parents[2] / "plugins" / "modules" / "kubemedic_json_settings.py")
js = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(js)


@pytest.mark.parametrize(("content", "valid", "error"), [
    (None, True, ""),                                     # missing: dockerd starts without one
    ("", True, ""),
    ("  \n", True, ""),
    ('{"debug": true}\n', True, ""),
    ('{"debug": true,', False, "Expecting property name"),  # a half-written hand edit
    ("[1, 2]", False, "not a JSON object"),
    ('"text"', False, "not a JSON object"),
    (b"\xff\xfe{}", False, "codec can't decode"),
])
def test_inspect_document(tmp_path: Path, content, valid: bool, error: str) -> None:
    path = tmp_path / "daemon.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    got_valid, got_error = js.inspect_document(str(path))
    assert got_valid is valid
    assert (error in got_error) if error else got_error == ""


def test_an_unreadable_path_is_not_taken_for_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        js.inspect_document(str(tmp_path))


def _backup(path: Path, suffix: str, content: str, mtime: int) -> Path:
    backup = path.with_name(path.name + suffix)
    backup.write_text(content)
    os.utime(backup, (mtime, mtime))
    return backup


def test_newest_valid_backup_by_mtime_skipping_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("{broken")
    _backup(path, ".100.2026-01-01@00:00~", '{"old": 1}', 1_000)
    wanted = _backup(path, ".200.2026-01-02@00:00~", '{"new": 1}', 2_000)
    _backup(path, ".300.2026-01-03@00:00~", "{half", 3_000)         # newest, but broken
    _backup(path, ".400.2026-01-04@00:00~", "[]", 4_000)            # parses, not an object
    _backup(path, ".500.2026-01-05@00:00", '{"x": 1}', 5_000)       # not a backup name (no ~)
    (tmp_path / "other.json.600~").write_text('{"y": 1}')           # another file's backup
    assert js.newest_valid_backup(str(path)) == str(wanted)


def test_newest_valid_backup_none(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    assert js.newest_valid_backup(str(path)) == ""
    _backup(path, ".1~", "", 1_000)
    assert js.newest_valid_backup(str(path)) == ""


def test_glob_characters_in_the_path_are_literal(tmp_path: Path) -> None:
    folder = tmp_path / "a[b]"
    folder.mkdir()
    path = folder / "daemon.json"
    backup = _backup(path, ".1~", "{}", 1_000)
    assert js.newest_valid_backup(str(path)) == str(backup)


def run_module(capsys, **args) -> tuple[int, dict]:
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        js.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_state_inspected_reports_and_never_writes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("{broken")
    backup = _backup(path, ".1~", '{"debug": true}', 1_000)
    rc, result = run_module(capsys, path=str(path), state="inspected",
                            settings={"debug": False}, _ansible_check_mode=True)
    assert rc == 0
    assert result["changed"] is False
    assert result["valid"] is False
    assert "Expecting property name" in result["error"]
    assert result["valid_backup"] == str(backup)
    assert path.read_text() == "{broken"


def test_state_inspected_fails_naming_an_unreadable_file(tmp_path: Path, capsys) -> None:
    rc, result = run_module(capsys, path=str(tmp_path), state="inspected")
    assert rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith(f"{tmp_path}: cannot read it")


def test_state_merged_is_still_the_default(tmp_path: Path, capsys) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    rc, result = run_module(capsys, path=str(path), settings={"log-driver": "json-file"},
                            profile="docker-daemon", backup=False)
    assert rc == 0
    assert result["changed"] is True
    assert json.loads(path.read_text()) == {"debug": True, "log-driver": "json-file"}


def test_documentation_parses_and_declares_the_states() -> None:
    """ansible-doc and ansible-lint read these strings as YAML; a stray `: ` breaks them."""
    doc = yaml.safe_load(js.DOCUMENTATION)
    assert doc["options"]["state"]["choices"] == ["merged", "inspected"]
    assert {"valid", "error", "valid_backup"} <= set(yaml.safe_load(js.RETURN))
    assert any(task["kubemedic_json_settings"].get("state") == "inspected"
               for task in yaml.safe_load(js.EXAMPLES))
