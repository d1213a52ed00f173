"""`kubemedic etcd backup|restore|list`: etcd snapshots kept on the dev-box per customer.

Snapshots live in `<state>/backups/<customer>/etcd/<UTC timestamp>.db` with a `.db.sha256`
next to each. The work (etcdctl, sha256, retention, the restore sequence and its checks) is in
playbooks/etcd-backup.yml and playbooks/etcd-restore.yml; this module only resolves paths.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubemedic import paths
from kubemedic.errors import KubemedicUsageError
from kubemedic.inputs import check_name, clip
from kubemedic.options import (
    RunOptions,
    confirm_or_abort,
    customer_option,
    execute,
    exit_with,
    run_options,
)

_CUSTOMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def backup_dir(customer: str, state_dir: str | None = None) -> Path:
    """`<state>/backups/<customer>/etcd`: where this customer's snapshots are kept."""
    if not _CUSTOMER_NAME.match(customer):
        raise KubemedicUsageError(f"customer {customer!r}: not a valid inventory name")
    return paths.state_dir(state_dir) / "backups" / customer / "etcd"


def list_snapshots(folder: Path) -> list[Path]:
    """The folder's snapshots, oldest first (names are UTC timestamps, so by name)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.db") if p.is_file())


def resolve_snapshot(folder: Path, snapshot: str | None, latest: bool) -> Path:
    """SNAPSHOT (a path, or a name in the customer's backup folder, .db optional) or --latest."""
    if bool(snapshot) == latest:
        raise KubemedicUsageError("give exactly one of SNAPSHOT or --latest")
    if latest:
        found = list_snapshots(folder)
        if not found:
            raise KubemedicUsageError(f"no etcd snapshot in {folder}; "
                                      "run `kubemedic etcd backup` first")
        return found[-1]
    assert snapshot is not None
    if "/" not in snapshot:  # a name in the backup folder (a path is checked by is_file below)
        check_name("etcd snapshot name", snapshot, r"[\w.:+-]+",
                   "a snapshot file name from `kubemedic etcd list`")
    candidates = [Path(snapshot).expanduser()]
    if "/" not in snapshot:
        name = snapshot if snapshot.endswith(".db") else f"{snapshot}.db"
        candidates.insert(0, folder / name)
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate.resolve()
        except OSError:  # e.g. a path component longer than the file system allows
            continue
    raise KubemedicUsageError(f"etcd snapshot {clip(snapshot)}: no such file "
                              f"(looked at {', '.join(clip(str(c)) for c in candidates)})")


@click.group()
def etcd() -> None:
    """etcd snapshots: backup to the dev-box, list, verified restore."""


@etcd.command()
@click.option("--keep", type=click.IntRange(min=0),
              help="Keep only the N newest snapshots of this customer (0 = all; "
                   "default: etcd_snapshot_backup_keep or 7).")
@run_options
def backup(opts: RunOptions, keep: int | None) -> None:
    """Snapshot etcd (etcdctl with the cluster's certificates) into
    <state>/backups/<customer>/etcd/<timestamp>.db, sha256 recorded, old ones pruned."""
    extravars: dict[str, object] = {
        "etcd_snapshot_backup_dir": str(backup_dir(opts.customer, opts.state_dir))}
    if keep is not None:
        extravars["etcd_snapshot_backup_keep"] = keep
    exit_with(execute(opts, "etcd-backup", "etcd-backup.yml", extravars=extravars))


@etcd.command()
@click.argument("snapshot", required=False)
@click.option("--latest", is_flag=True, help="Restore the customer's newest snapshot.")
@run_options
def restore(opts: RunOptions, snapshot: str | None, latest: bool) -> None:
    """DESTRUCTIVE: replace etcd's data with SNAPSHOT (a file, or a name from `etcd list`) or
    --latest. A snapshot whose sha256 does not match its .sha256 is refused before any node is
    touched; the old data dir is kept aside. Asks unless --yes."""
    file = resolve_snapshot(backup_dir(opts.customer, opts.state_dir), snapshot, latest)
    confirmed = confirm_or_abort(
        opts, f"restore etcd of {opts.customer} from {file}: changes made since are lost")
    exit_with(execute(opts, "etcd-restore", "etcd-restore.yml", confirmed=confirmed,
                      extravars={"etcd_snapshot_restore_file": str(file)}))


@etcd.command(name="list")
@customer_option
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
def list_cmd(customer: str, json_output: bool) -> None:
    """The customer's etcd snapshots on this dev-box, newest first."""
    state = click.get_current_context().find_root().params.get("state_dir")
    folder = backup_dir(customer, state)
    rows = []
    for snap in reversed(list_snapshots(folder)):
        sha_file = snap.with_name(snap.name + ".sha256")
        recorded = sha_file.read_text().split()[0] if sha_file.is_file() else None
        info = snap.stat()
        rows.append({"name": snap.stem, "path": str(snap), "bytes": info.st_size,
                     "modified": datetime.fromtimestamp(info.st_mtime, timezone.utc).isoformat(),
                     "sha256": recorded})
    if json_output:
        click.echo(json.dumps({"folder": str(folder), "snapshots": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no etcd snapshots in {folder}", err=True)
        return
    table = Table(title=f"etcd snapshots of {customer} ({folder})")
    for column in ("name", "size", "modified (UTC)", "sha256"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], f"{row['bytes']:,}", row["modified"][:19],
                      (row["sha256"] or "MISSING .sha256 (restore refuses it)")[:16])
    Console(width=160).print(table)
