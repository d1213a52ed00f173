"""doctor's mysql-backup check: a running MySQL/MariaDB needs a recent dump (recover mysql-backup)."""

from __future__ import annotations

from kubemedic.doctor.checks import evaluate
from tests.unit.doctor_settings import role_settings


def _checks(mysql: dict) -> list[tuple[str, str | None]]:
    return [(f["check"], f["step"]) for f in evaluate("db1", {"mysql": mysql}, role_settings(kb=False))]


def test_running_server_without_any_dump_needs_mysql_backup() -> None:
    found = _checks({"running": True, "dirs": ["/data/backup/mysql"], "newest_age_hours": None})
    assert ("mysql-backup", "mysql-backup") in found


def test_old_dump_needs_mysql_backup_fresh_one_is_clean() -> None:
    old = _checks({"running": True, "dirs": ["/b"], "newest_age_hours": 30.0})
    fresh = _checks({"running": True, "dirs": ["/b"], "newest_age_hours": 2.0})
    assert ("mysql-backup", "mysql-backup") in old
    assert not [c for c in fresh if c[0] == "mysql-backup"]


def test_no_server_no_finding() -> None:
    found = _checks({"running": False, "dirs": ["/b"], "newest_age_hours": None})
    assert not [c for c in found if c[0] == "mysql-backup"]
