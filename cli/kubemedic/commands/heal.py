"""`kubemedic heal`: GPU Xid self-healing by policy (seed 003).

scan (playbooks/heal.yml --tags heal-scan, read-only) -> decide in Python from the customer's
policy (inventories/<customer>/xid-policy.yml, else the packaged defaults) -> act
(--tags heal-act with the plan). Every decision goes into the scan's run record and the act's.
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
from kubemedic.heal import xid
from kubemedic.heal.policy import NodeState, Policy, decide, load_policy
from kubemedic.inventory.loader import customer_dir
from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options

POLICY_FILE = "xid-policy.yml"


def resolve_policy(opts: RunOptions, policy_file: str | None) -> Policy:
    if policy_file:
        return load_policy(Path(policy_file))
    own = customer_dir(opts.customer, opts.inventory_dir) / POLICY_FILE
    return load_policy(own if own.is_file() else None)


def node_states(nodes_json: dict[str, Any]) -> dict[str, NodeState]:
    states = {}
    for item in nodes_json.get("items") or []:
        meta = item.get("metadata") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (item.get("status") or {}).get("conditions") or [])
        states[meta.get("name", "")] = NodeState(
            name=meta.get("name", ""), labels=dict(meta.get("labels") or {}),
            unschedulable=bool((item.get("spec") or {}).get("unschedulable")), ready=ready)
    return states


def plan_from_scan(policy: Policy, scan: dict[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    """(decisions as JSON, findings per host) from heal.yml's xid-scan.json."""
    names = scan.get("node_names") or {}
    findings = {}
    for host, lines in (scan.get("hosts") or {}).items():
        events = xid.parse("\n".join(lines or []))
        findings[host] = {"node": names.get(host) or host, "codes": xid.codes(events),
                          "events": [e.to_json() for e in events]}
    nodes = node_states(scan.get("nodes") or {})
    gpu_nodes = [f["node"] for f in findings.values()]
    decisions = [d.to_json() for d in decide(policy, findings, nodes, gpu_nodes)]
    return decisions, findings


def _store(record: Path, summary: records.RunSummary, heal: dict[str, Any]) -> None:
    (record / "heal-decisions.json").write_text(json.dumps(heal, indent=2) + "\n")
    summary.extra["heal"] = heal
    records.write_summary(record, summary)


def _print(decisions: list[dict], dry_run: bool) -> None:
    console = Console(stderr=True, width=160)
    if not decisions:
        console.print("heal: no Xid errors on any GPU node")
        return
    table = Table(title="GPU Xid healing" + (" (dry run: nothing done)" if dry_run else ""))
    for column in ("node", "Xid", "rule", "decision", "actions", "why"):
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


@click.command()
@click.option("--dry-run", is_flag=True, help="Scan and decide, print and record the plan; "
                                              "change nothing.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help=f"Policy file (default: inventories/<customer>/{POLICY_FILE}, else the "
                   "packaged defaults).")
@run_options
def heal(opts: RunOptions, dry_run: bool, policy_file: str | None) -> None:
    """Find NVIDIA Xid errors on every GPU node and heal them by policy.

    cordon / drain / warm spare / reboot / uncordon, never more than max_unavailable nodes out
    at once. Reboots and drains ask unless --yes.
    """
    policy = resolve_policy(opts, policy_file)  # exit 2 before any host is contacted
    scan_result = execute(opts, "heal-scan", "heal.yml", tags=["heal-scan"])
    if scan_result.rc != errors.EXIT_OK:
        exit_with(scan_result)
    scan_file = scan_result.record / "xid-scan.json"
    try:
        scan = json.loads(scan_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{scan_file}: the scan wrote no result: {exc}") from exc
    decisions, findings = plan_from_scan(policy, scan)
    heal_record = {"policy": policy.source, "max_unavailable": policy.max_unavailable,
                   "dry_run": dry_run, "kubernetes": scan.get("kubernetes", False),
                   "findings": findings, "decisions": decisions}
    _store(scan_result.record, scan_result.summary, heal_record)
    if not opts.json_output:
        _print(decisions, dry_run)
    plan = [{"host": d["host"], "node": d["node"], "actions": d["actions"]}
            for d in decisions if d["status"] == "planned" and d["actions"]]
    if opts.json_output:
        click.echo(json.dumps({"phase": "decide", "record": str(scan_result.record),
                               **heal_record}, indent=2))
    if dry_run or not plan:
        exit_with(scan_result)
    disruptive = [p["node"] for p in plan if {a["name"] for a in p["actions"]} & {"drain", "reboot"}]
    confirmed = False
    if disruptive:
        confirmed = confirm_or_abort(opts, f"heal: drain/reboot {', '.join(disruptive)}")
    act = execute(opts, "heal", "heal.yml", tags=["heal-act"], confirmed=confirmed,
                  extravars={"gpu_heal_plan": plan,
                             "gpu_heal_warm_spare_label": "=".join(policy.warm_spare_label)})
    _store(act.record, act.summary, {**heal_record, "scan_record": str(scan_result.record),
                                     "plan": plan})
    exit_with(act)
