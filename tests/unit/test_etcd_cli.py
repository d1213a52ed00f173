"""`kubemedic etcd`: where snapshots live, how SNAPSHOT / --latest resolve, what reaches the
playbooks. No host is contacted here (execute is replaced by a recorder); the real runs are in
tests/integration/test_etcd_lab.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemedic.commands import etcd as etcd_cmd
from kubemedic.errors import KubemedicUsageError
from kubemedic.main import cli


def make_snapshots(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name in names:
        snap = folder / f"{name}.db"
        snap.write_bytes(name.encode())
        (folder / f"{name}.db.sha256").write_text(f"{'ab' * 32}  {name}.db\n")
        made.append(snap)
    return made


def test_backup_dir_is_per_customer_under_the_state_dir(tmp_path: Path) -> None:
    assert etcd_cmd.backup_dir("acme", str(tmp_path)) == tmp_path / "backups" / "acme" / "etcd"


def test_backup_dir_follows_the_state_dir_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KUBEMEDIC_STATE_DIR", str(tmp_path / "st"))
    assert etcd_cmd.backup_dir("acme") == tmp_path / "st" / "backups" / "acme" / "etcd"


@pytest.mark.parametrize("bad", ["../acme", "a/b", "", ".hidden"])
def test_customer_names_cannot_escape_the_backup_tree(bad: str, tmp_path: Path) -> None:
    with pytest.raises(KubemedicUsageError, match="not a valid inventory name"):
        etcd_cmd.backup_dir(bad, str(tmp_path))


def test_latest_is_the_newest_timestamp(tmp_path: Path) -> None:
    make_snapshots(tmp_path, "20260102T000000Z", "20260110T000000Z", "20260105T000000Z")
    (tmp_path / "notes.txt").write_text("not a snapshot")
    assert etcd_cmd.resolve_snapshot(tmp_path, None, True).name == "20260110T000000Z.db"


def test_latest_without_snapshots_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(KubemedicUsageError, match="no etcd snapshot in"):
        etcd_cmd.resolve_snapshot(tmp_path / "missing", None, True)


@pytest.mark.parametrize("given", ["20260102T000000Z", "20260102T000000Z.db"])
def test_a_name_resolves_in_the_customer_folder(tmp_path: Path, given: str) -> None:
    (snap,) = make_snapshots(tmp_path / "etcd", "20260102T000000Z")
    assert etcd_cmd.resolve_snapshot(tmp_path / "etcd", given, False) == snap.resolve()


def test_a_path_is_taken_as_is(tmp_path: Path) -> None:
    (snap,) = make_snapshots(tmp_path / "elsewhere", "copied")
    assert etcd_cmd.resolve_snapshot(tmp_path / "etcd", str(snap), False) == snap.resolve()


def test_a_missing_snapshot_is_named(tmp_path: Path) -> None:
    with pytest.raises(KubemedicUsageError, match="etcd snapshot nope: no such file"):
        etcd_cmd.resolve_snapshot(tmp_path, "nope", False)


@pytest.mark.parametrize(("snapshot", "latest"), [(None, False), ("x", True)])
def test_exactly_one_of_snapshot_or_latest(tmp_path: Path, snapshot, latest) -> None:
    make_snapshots(tmp_path, "x")
    with pytest.raises(KubemedicUsageError, match="exactly one"):
        etcd_cmd.resolve_snapshot(tmp_path, snapshot, latest)


@pytest.fixture
def recorded(monkeypatch) -> list[dict]:
    calls: list[dict] = []

    def fake_execute(opts, verb, playbook, **kwargs):
        calls.append({"verb": verb, "playbook": playbook, "check": opts.check, **kwargs})
        return None

    monkeypatch.setattr(etcd_cmd, "execute", fake_execute)
    monkeypatch.setattr(etcd_cmd, "exit_with", lambda result: None)
    return calls


def test_backup_passes_the_folder_and_retention(tmp_path: Path, recorded: list[dict]) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "backup",
                                      "-c", "acme", "--keep", "3"])
    assert result.exit_code == 0, result.output
    assert recorded == [{"verb": "etcd-backup", "playbook": "etcd-backup.yml", "check": False,
                         "extravars": {"etcd_snapshot_backup_dir": str(tmp_path / "backups/acme/etcd"),
                                       "etcd_snapshot_backup_keep": 3}}]


def test_backup_leaves_retention_to_the_inventory_by_default(tmp_path: Path,
                                                           recorded: list[dict]) -> None:
    CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "backup", "-c", "acme"])
    assert "etcd_snapshot_backup_keep" not in recorded[0]["extravars"]


def test_negative_keep_is_refused(tmp_path: Path, recorded: list[dict]) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "backup",
                                      "-c", "acme", "--keep", "-1"])
    assert result.exit_code == 2 and recorded == []


def test_restore_latest_with_yes(tmp_path: Path, recorded: list[dict]) -> None:
    folder = tmp_path / "backups" / "acme" / "etcd"
    make_snapshots(folder, "20260101T000000Z", "20260201T000000Z")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "restore",
                                      "-c", "acme", "--latest", "--yes"])
    assert result.exit_code == 0, result.output
    assert recorded == [{"verb": "etcd-restore", "playbook": "etcd-restore.yml", "check": False,
                         "confirmed": True, "extravars": {
                             "etcd_snapshot_restore_file": str(folder / "20260201T000000Z.db")}}]


def test_restore_without_a_terminal_needs_yes(tmp_path: Path, recorded: list[dict]) -> None:
    make_snapshots(tmp_path / "backups" / "acme" / "etcd", "20260101T000000Z")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "restore",
                                      "-c", "acme", "20260101T000000Z"])
    assert result.exit_code == 2
    assert "needs confirmation" in result.output and recorded == []


def test_restore_check_mode_runs_unconfirmed(tmp_path: Path, recorded: list[dict]) -> None:
    make_snapshots(tmp_path / "backups" / "acme" / "etcd", "20260101T000000Z")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "restore",
                                      "-c", "acme", "--latest", "--check"])
    assert result.exit_code == 0, result.output
    assert recorded[0]["check"] is True and recorded[0]["confirmed"] is False


def test_restore_of_a_missing_name_touches_nothing(tmp_path: Path, recorded: list[dict]) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "restore",
                                      "-c", "acme", "20990101T000000Z", "--yes"])
    assert result.exit_code == 2 and "20990101T000000Z: no such file" in result.output
    assert recorded == []


def test_list_json_newest_first_with_recorded_sha(tmp_path: Path) -> None:
    folder = tmp_path / "backups" / "acme" / "etcd"
    make_snapshots(folder, "20260101T000000Z", "20260301T000000Z")
    (folder / "20260201T000000Z.db").write_bytes(b"no checksum file")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "list",
                                      "-c", "acme", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert listed["folder"] == str(folder)
    assert [s["name"] for s in listed["snapshots"]] == [
        "20260301T000000Z", "20260201T000000Z", "20260101T000000Z"]
    assert [s["sha256"] for s in listed["snapshots"]] == ["ab" * 32, None, "ab" * 32]


def test_list_without_snapshots(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "etcd", "list", "-c", "acme"])
    assert result.exit_code == 0 and "no etcd snapshots in" in result.output
