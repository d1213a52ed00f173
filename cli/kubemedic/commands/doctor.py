"""`kubemedic doctor` (diagnose a cluster) and `kubemedic explain` (diagnose pasted text).

doctor runs playbooks/doctor.yml (one read-only pass, one probe call per node); the role writes
<record>/findings/<host>.json and this module gathers them into one answer:

    {"findings": [{"host", "check", "severity", "evidence", "message", "step", "command",
                   "caused_by", "explains", "subject"}],
     "hosts": [checked hosts], "record": "<run record dir>", ...}

Exit codes: 0 no critical finding, 5 at least one critical finding; 3/4/1 when the run itself
failed (a task failed / a host was unreachable / ansible error) — the run was incomplete, so
those win over 5; findings from the hosts that answered are still printed.

explain: exit 0 whether or not a signature matched ("nothing matched" is an answer, printed
plainly; `--json` gives "matched": []), 2 when the input cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubemedic import errors, lock
from kubemedic.doctor import checks, kb
from kubemedic.engine import interruption
from kubemedic.engine.progress import Display
from kubemedic.engine.records import write_summary
from kubemedic.engine.runner import RunRequest, run_playbook
from kubemedic.heal import xid
from kubemedic.inventory.loader import load_and_validate
from kubemedic.options import RunOptions, check_tags, run_options

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def collect(record: Path) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Findings and probe durations written by the doctor role into the run record."""
    findings: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    folder = record / "findings"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        findings.extend(data.get("findings") or [])
        if data.get("probe_seconds") is not None:
            timings[data["host"]] = data["probe_seconds"]
    return findings, timings


def _run_failures(summary: Any, customer: str) -> list[dict[str, Any]]:
    """Hosts doctor could not examine are findings too (critical: nothing is known about them)."""
    out = []
    for failure in summary.failures:
        host = failure.get("host")
        if not host:
            continue
        unreachable = failure.get("outcome") == "unreachable"
        out.append(checks.Finding(
            host=host, check="unreachable" if unreachable else "doctor-failed",
            severity="critical", evidence=str(failure.get("message", ""))[:400],
            message=("host unreachable over ssh: nothing could be checked" if unreachable
                     else f"doctor task failed: {failure.get('task')}"),
            command=f"kubemedic ping -c {customer} --limit {host}").to_json())
    return out


def sort_findings(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """By host; on each, root causes first with what they explain folded under them."""
    return checks.order(findings)


def exit_code(findings: list[dict[str, Any]], run_rc: int) -> int:
    if run_rc != errors.EXIT_OK:
        return run_rc
    if any(f["severity"] == "critical" for f in findings):
        return errors.EXIT_CRITICAL_FINDINGS
    return errors.EXIT_OK


def findings_table(findings: list[dict[str, Any]]) -> Table:
    table = Table(title="kubemedic doctor", show_lines=False)
    for column in ("host", "severity", "check", "evidence / message", "repair"):
        table.add_column(column, overflow="fold")
    last_host = None
    for finding in findings:
        host = finding["host"] if finding["host"] != last_host else ""
        if finding["host"] != last_host and last_host is not None:
            table.add_section()
        last_host = finding["host"]
        style = SEVERITY_STYLE.get(finding["severity"], "")
        cause = finding.get("caused_by")
        # log text and messages quoting it are not markup: nginx's "[emerg]" would vanish and
        # a "[/x]" in a log line would make rich raise
        check = escape(f"  └ {finding['check']}" if cause else finding["check"])
        message = escape(finding["message"] + (f" (because of {cause}, above)" if cause else ""))
        repair = escape(finding.get("command") or "-")
        if cause:
            repair = f"[dim]repair {escape(cause)} first; then, if still failing: {repair}[/]"
        table.add_row(escape(host), f"[{style}]{finding['severity']}[/]", check,
                      f"{escape(finding['evidence'])}\n[dim]{message}[/]", repair)
    return table


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)


@click.command()
@click.option("--min-severity", type=click.Choice(kb.SEVERITIES), default="info",
              show_default=True, help="Hide findings below this severity in the table.")
@run_options
def doctor(opts: RunOptions, min_severity: str) -> None:
    """Diagnose every node in one read-only pass; each finding names the exact repair.

    Exit 0 no critical finding, 5 critical finding(s), 3/4 when a host failed or was
    unreachable (its findings are incomplete).
    """
    check_tags(opts, "doctor.yml")
    root, _data = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)
    request = RunRequest(
        customer=opts.customer, verb="doctor", playbook="doctor.yml", inventory=root,
        limit=opts.limit, tags=opts.tags, skip_tags=opts.skip_tags, extravars=opts.extravars,
        check=opts.check, diff=opts.diff, verbosity=opts.verbose, confirmed=False,
        state_dir=opts.state_dir, vault_password_file=opts.vault_password_file,
        mitogen_by_default=False)
    result = run_playbook(request, Display(mode="quiet" if opts.json_output else "auto"))
    found, timings = collect(result.record)
    findings = sort_findings([*found, *_run_failures(result.summary, opts.customer),
                              *interruption.findings(opts.customer, opts.state_dir,
                                                     lock.is_free(opts.customer, opts.state_dir))])
    hosts = sorted(result.summary.hosts)
    rc = exit_code(findings, result.rc)
    counts = {severity: sum(1 for f in findings if f["severity"] == severity)
              for severity in kb.SEVERITIES}
    answer = {"findings": findings, "hosts": hosts, "record": str(result.record),
              "counts": counts, "duration_seconds": result.summary.duration_seconds,
              "probe_seconds": timings, "rc": rc}
    (result.record / "doctor.json").write_text(json.dumps(answer, indent=2) + "\n",
                                               encoding="utf-8")
    result.summary.extra["doctor"] = {"counts": counts, "rc": rc}
    result.summary.rc = rc
    write_summary(result.record, result.summary)
    if opts.json_output:
        click.echo(json.dumps(answer, indent=2))
    else:
        console = _console()
        shown = [f for f in findings
                 if kb.SEVERITY_RANK[f["severity"]] <= kb.SEVERITY_RANK[min_severity]]
        if shown:
            console.print(findings_table(shown))
        verdict = ("[bold red]critical findings[/]" if counts["critical"]
                   else "[yellow]warnings only[/]" if counts["warning"] else "[green]healthy[/]")
        console.print(f"doctor: {verdict} — {counts['critical']} critical, {counts['warning']} "
                      f"warning, {counts['info']} info on {len(hosts)} host(s) in "
                      f"{result.summary.duration_seconds}s; record: {result.record}")
        if result.rc:
            for failure in result.summary.failures:
                console.print(f"[red]{failure['outcome']}[/] {failure.get('host') or 'ansible'}: "
                              f"{failure['message']}")
    click.get_current_context().exit(rc)


def _explain_command(signature: kb.Signature) -> str | None:
    """The signature's repair as doctor renders it, with placeholders for what a pasted log
    cannot tell (customer, host, the step's variables: NAMESPACE, DEPLOYMENT)."""
    needed = checks.STEP_REQUIRED_VARS.get(signature.step or "", ())
    return checks.render_command(signature.step, signature.fix, "CUSTOMER", "HOST",
                                 "FIRST_MASTER",
                                 {key: key.rsplit("_", 1)[-1].upper() for key in needed})


# The Xid lines explain hands to the catalog (xid.findings) after the streamed scan found one:
# a second, bounded pass keeps memory flat on a journal of any size.
_XID_LINE_HINTS = ("NVRM", "fallen off the bus")
_XID_MAX_LINES = 20000


def _xid_lines(source: str, evidence: str) -> str:
    """The kernel driver's lines of `source` (a file read again line by line, at most
    _XID_MAX_LINES); for stdin, which cannot be read twice, the match's evidence."""
    if source == "-":
        return evidence
    kept: list[str] = []
    with open(source, "rb") as stream:
        for raw in stream:
            line = raw.decode("utf-8", errors="replace")
            if any(hint in line for hint in _XID_LINE_HINTS):
                kept.append(line)
                if len(kept) >= _XID_MAX_LINES:
                    break
    return "".join(kept)


def _xid_item(finding: dict[str, Any]) -> dict[str, Any]:
    """An explain answer entry for one Xid code (kubemedic.heal.xid.findings)."""
    return {"id": finding["id"], "severity": finding["severity"],
            "cause": f"{finding['cause']} -> {finding['action']}", "step": None,
            "fix": finding["command"], "evidence": finding["evidence"], "line": finding["line"],
            "count": finding["count"], "xid": finding["code"], "xid_class": finding["xid_class"],
            "command": finding["command"]}


@click.command()
@click.argument("source", required=False, default="-")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable answer.")
def explain(source: str, json_output: bool) -> None:
    """Match pasted logs (FILE, or - for stdin) against the knowledge base; no cluster needed.

    Prints every known signature found, best first, with its confidence, cause, the evidence
    line and the repair command; "no known cause" when nothing is convincing. Reads any size
    (streamed). Exit 0 (also when nothing matched), 2 if FILE cannot be read as a text log.
    """
    try:
        kb.load()
        if source == "-":
            name = "<stdin>"
            scan = kb.match_stream(getattr(sys.stdin, "buffer", sys.stdin), name)
        else:
            name = source
            scan = kb.match_file(source)
    except (kb.LogInputError, kb.KnowledgeBaseError) as exc:
        raise errors.KubemedicUsageError(str(exc)) from exc
    answer = []
    for m in scan.matches:
        if m.signature.id in xid.KB_SIGNATURES:  # one finding per Xid code, by NVIDIA's catalog
            answer.extend({**m.to_json(), **_xid_item(f)}
                          for f in xid.findings(_xid_lines(source, m.evidence)))
            continue
        answer.append({**m.to_json(), "command": _explain_command(m.signature)})
    best = kb.best(scan.matches)
    if json_output:
        click.echo(json.dumps({"source": name, "lines": scan.lines, "bytes": scan.bytes,
                               "answer": best.signature.id if best else None,
                               "notes": scan.notes, "matched": answer}, indent=2))
        return
    for note in scan.notes:
        click.echo(f"note: {note}", err=True)
    console = _console()
    convincing = [item for item in answer if item["convincing"]]
    weak = [item for item in answer if not item["convincing"]]
    summary = f"{name} ({scan.lines} lines, {len(kb.load())} signatures)"
    if not answer:
        console.print(f"No known signature matched in {summary}. Nothing here kubemedic "
                      "recognises; run `kubemedic doctor -c CUSTOMER` on the cluster or add a "
                      "signature to cli/kubemedic/data/kb/.")
        return
    if not convincing:
        console.print(f"No known cause in {summary}: only weak hints, not a diagnosis:")
    else:
        table = Table(title=f"kubemedic explain: {len(convincing)} known cause(s) in {name}")
        for column in ("#", "severity", "signature", "confidence", "cause", "evidence (line)",
                       "repair"):
            table.add_column(column, overflow="fold")
        for rank_no, item in enumerate(convincing, 1):
            style = SEVERITY_STYLE.get(item["severity"], "")
            times = f" x{item['count']}" if item["count"] > 1 else ""
            table.add_row(str(rank_no), f"[{style}]{item['severity']}[/]", item["id"],
                          f"{item['confidence']:.2f}", escape(item["cause"]),
                          f"{escape(item['evidence'])} [dim](line {item['line']}{times})[/]",
                          escape(item["command"] or "-"))
        console.print(table)
        if weak:
            console.print("Weak hints (below the confidence kubemedic acts on):")
    for item in weak:
        console.print(f"  {item['id']} ({item['confidence']:.2f}, line {item['line']}): "
                      f"{escape(item['cause'])} [dim]{escape(item['evidence'])}[/]",
                      highlight=False)
