"""`kubemedic heal`: GPU Xid self-healing by policy (seed 003).

playbooks/heal.yml scans, decides (filter kubemedic_heal_plan: the policy engine in
kubemedic/heal/) and acts in one run, exactly as plain `ansible-playbook playbooks/heal.yml`
does. This verb adds what a terminal and a run record need: the policy checked before any host
is contacted (exit 2), the decisions printed and stored in summary.json, and a confirmation
before drains and reboots. Without --yes (and without --dry-run) it first runs heal.yml as a dry
run to show what it would do, asks, then runs it for real (which decides again, within the
same policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kubemedic import errors
from kubemedic.engine import records
from kubemedic.engine.runner import RunResult
from kubemedic.heal.plan import disruptive
from kubemedic.heal.policy import POLICY_FILE, Policy, PolicyError, load_policy, policy_path
from kubemedic.inventory.loader import customer_dir, load_and_validate
from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options

# Written by the play into the run record: roles/gpu_heal/defaults/main.yml gpu_heal_record_file.
RECORD_FILE = "heal-decisions.json"


def resolve_policy(opts: RunOptions, policy_file: str | None) -> tuple[Policy, Path | None]:
    """The policy heal.yml will apply (and its file, None = the packaged defaults); exit 2 when
    it is unreadable or invalid, before any host is contacted."""
    path = policy_path(policy_file, customer_dir(opts.customer, opts.inventory_dir))
    try:
        return load_policy(path), path
    except PolicyError as exc:
        raise errors.KubemedicUsageError(exc.message, exc.problems) from exc


def _print(decisions: list[dict], dry_run: bool) -> None:
    console = Console(stderr=True, width=160)
    if not decisions:
        console.print("heal: no Xid errors or other GPU faults on any GPU node")
        return
    table = Table(title="GPU Xid healing" + (" (dry run: nothing done)" if dry_run else ""))
    for column in ("node", "Xid / fault", "rule", "decision", "actions", "why"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        table.add_row(d["node"], ",".join(map(str, d["codes"])), d["rule"] or "-", d["status"],
                      " -> ".join(a["name"] + (f"({a['spare']})" if a.get("spare") else "")
                                  for a in d["actions"]) or "-", d["reason"])
    console.print(table)
    for d in decisions:
        for action in d["actions"]:
            if action["name"] == "notify":
                console.print(f"[bold red]NEEDS A HUMAN[/] {d['node']}: {action['message']}")


def _run(opts: RunOptions, root: Path, extravars: dict[str, Any], *, confirmed: bool,
         preview: Path | None = None) -> RunResult:
    """One heal.yml run; what its play decided goes into summary.json (extra.heal)."""

    def record_decisions(result: RunResult) -> None:
        try:
            heal = json.loads((result.record / RECORD_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            heal = {}  # the play stopped before deciding (see the failures) or no gpu host ran
        if preview is not None:
            heal["preview_record"] = str(preview)
        result.summary.extra["heal"] = heal
        records.write_summary(result.record, result.summary)
        if not opts.json_output and heal:
            _print(heal.get("decisions") or [], bool(heal.get("dry_run")))

    return execute(opts, "heal", "heal.yml", inventory=root, extravars=extravars,
                   confirmed=confirmed, after_run=record_decisions)


@click.command()
@click.option("--dry-run", is_flag=True, help="Scan and decide, print and record the plan; "
                                              "change nothing.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help=f"Policy file (default: inventories/<customer>/{POLICY_FILE}, else the "
                   "packaged defaults).")
@run_options
def heal(opts: RunOptions, dry_run: bool, policy_file: str | None) -> None:
    """Find NVIDIA Xid errors (and GPU faults without one) on every GPU node, heal by policy.

    cordon / drain / warm spare / reboot / uncordon, never more than max_unavailable nodes out
    at once. Reboots and drains ask unless --yes.
    """
    _policy, path = resolve_policy(opts, policy_file)
    root = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)[0]
    extravars: dict[str, Any] = {"gpu_heal_dry_run": dry_run}
    if path is not None:
        extravars["gpu_heal_policy_file"] = str(path.resolve())
    if dry_run or opts.yes or opts.check:
        exit_with(_run(opts, root, extravars, confirmed=opts.yes))
    # Asking needs the plan first: a dry run shows it, the real run follows once confirmed.
    preview = _run(opts, root, {**extravars, "gpu_heal_dry_run": True}, confirmed=False)
    planned = preview.summary.extra["heal"].get("plan") or []
    if preview.rc != errors.EXIT_OK or not planned:
        exit_with(preview)
    nodes = disruptive(planned)
    confirmed = bool(nodes) and confirm_or_abort(opts, f"heal: drain/reboot {', '.join(nodes)}")
    exit_with(_run(opts, root, extravars, confirmed=confirmed, preview=preview.record))
