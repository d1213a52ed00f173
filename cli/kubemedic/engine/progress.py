"""Turn ansible-runner events into live per-host progress and a final recap."""

from __future__ import annotations

import difflib
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

_DEBUG_ACTIONS = {"debug", "ansible.builtin.debug", "ansible.legacy.debug"}
_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


@dataclass
class HostProgress:
    task: str = ""
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class ProgressTracker:
    """Consumes events; `failures` keeps what an operator needs to see about each failure."""

    hosts: dict[str, HostProgress] = field(default_factory=dict)
    play: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    # What debug tasks tell the operator (what a recovery step found or removed).
    reports: list[dict[str, Any]] = field(default_factory=list)
    # With --diff: every file a changed task changed (or would change in --check), with its
    # unified diff: [{host, task, file, diff}].
    diffs: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def handle(self, event: dict[str, Any]) -> str | None:
        """Update state; return a one-line description for plain (non-TTY) output, if any."""
        kind = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("host")
        if kind == "playbook_on_play_start":
            self.play = data.get("play", "")
            return f"PLAY {self.play}"
        if kind == "runner_on_start" and host:
            self.hosts.setdefault(host, HostProgress()).task = data.get("task", "")
            return None
        if kind in _RESULT_EVENTS and host:
            return self._result(kind, host, data)
        return None

    def _result(self, kind: str, host: str, data: dict[str, Any]) -> str:
        state = self.hosts.setdefault(host, HostProgress())
        res = data.get("res") or {}
        outcome = _RESULT_EVENTS[kind]
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "ok"
        if outcome == "ok" and res.get("changed"):
            outcome = "changed"
        setattr(state, outcome, getattr(state, outcome) + 1)
        task = data.get("task", "")
        if outcome == "changed" and res.get("diff"):
            self.diffs.extend({"host": host, "task": task, **item}
                              for item in file_diffs(res, data.get("task_action") or ""))
        if outcome in ("failed", "unreachable"):
            message = failure_message(res)
            self.failures.append({"host": host, "task": task, "outcome": outcome,
                                  "message": message})
            return f"{outcome.upper():11} {host}: {task}: {message.splitlines()[0] if message else ''}"
        message = _report_message(data, res) if outcome == "ok" else ""
        if message:
            self.reports.append({"host": host, "task": task, "message": message})
            return f"{outcome:11} {host}: {task}: {message.splitlines()[0]}"
        return f"{outcome:11} {host}: {task}"

    def table(self) -> Table:
        elapsed = time.monotonic() - self.started
        table = Table(title=f"{self.play}  ({elapsed:.0f}s)", title_justify="left", expand=False)
        for column in ("host", "current task", "ok", "changed", "failed", "unreachable"):
            table.add_column(column, justify="right" if column not in ("host", "current task")
                             else "left", no_wrap=True, overflow="ellipsis",
                             max_width=60 if column == "current task" else None)
        for name in sorted(self.hosts):
            h = self.hosts[name]
            table.add_row(name, h.task, str(h.ok), str(h.changed),
                          f"[red]{h.failed}[/]" if h.failed else "0",
                          f"[red]{h.unreachable}[/]" if h.unreachable else "0")
        return table


_TEMP_SOURCE = re.compile(r"/\.ansible/tmp/|/tmp/ansible")


def file_diffs(res: dict[str, Any], action: str = "") -> list[dict[str, str]]:
    """[{file, diff}] of one result's `diff` (what --diff asked Ansible for). The file is the
    destination: template/copy name only their rendered temporary source in after_header when
    the destination does not exist yet, so the module's dest/path argument names it then; a
    diff about no file (apt's package list) is named after the module: `(apt)`."""
    items = res.get("diff")
    args = ((res.get("invocation") or {}).get("module_args") or {})
    target = str(args.get("dest") or args.get("path") or "")
    out = []
    for item in items if isinstance(items, list) else [items]:
        if not isinstance(item, dict):
            continue
        header = str(item.get("before_header") or "")
        if not header or _TEMP_SOURCE.search(header):
            after = str(item.get("after_header") or "")
            header = target or ("" if _TEMP_SOURCE.search(after) else after)
        name = (re.sub(r" \((content|file attributes)\)$", "", header) or target
                or f"({action.rsplit('.', 1)[-1] or 'no file'})")
        before, after = item.get("before"), item.get("after")
        if isinstance(before, str) and isinstance(after, str):
            text = "".join(difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=f"{name} (before)", tofile=f"{name} (after)"))
        elif item.get("prepared"):
            text = str(item["prepared"])
        else:
            text = "" if before is None and after is None else f"{before!r} -> {after!r}"
        if text:
            out.append({"file": name, "diff": text})
    return out


# Command output kept in a failure: its tail, where kubeadm, ctr and apt say what went wrong.
_OUTPUT_TAIL = 1500


def failure_message(res: dict[str, Any]) -> str:
    """What went wrong, in the words of what failed: a command's msg ("non-zero return code")
    with the tail of its stderr (else stdout); a loop's failed items each under its label, not
    Ansible's "One or more items failed"."""
    items = [item for item in res.get("results") or []
             if isinstance(item, dict) and item.get("failed")]
    if items:
        return "\n".join(f"{item.get('_ansible_item_label', item.get('item', '?'))}: "
                         f"{_one_failure(item)}" for item in items)[:2 * _OUTPUT_TAIL]
    return _one_failure(res)


def _one_failure(res: dict[str, Any]) -> str:
    message = str(res.get("msg") or res.get("reason") or res.get("censored") or "")
    output = str(res.get("stderr") or "").strip() or str(res.get("stdout") or "").strip()
    if not output or output in message:
        return message[:2 * _OUTPUT_TAIL]
    if len(output) > _OUTPUT_TAIL:  # the tail from a whole line on
        tail = output[-_OUTPUT_TAIL:]
        output = tail.split("\n", 1)[-1] if "\n" in tail else tail
    return f"{message}: {output}" if message else output


def _report_message(data: dict[str, Any], res: dict[str, Any]) -> str:
    """The msg of a debug task (never one hidden by no_log), else ''."""
    if data.get("task_action") not in _DEBUG_ACTIONS or res.get("_ansible_no_log"):
        return ""
    msg = res.get("msg")
    if not msg or not isinstance(msg, (str, list)):
        return ""
    text = msg if isinstance(msg, str) else "\n".join(str(line) for line in msg)
    return "" if "censored" in text and "no_log" in text else text[:2000]


class Display:
    """Live table on a terminal, plain lines otherwise, nothing in --json mode."""

    def __init__(self, mode: str = "auto", console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        if mode == "auto":
            mode = "live" if self.console.is_terminal else "plain"
        self.mode = mode
        self.tracker = ProgressTracker()
        self._live: Live | None = None

    def __enter__(self) -> Display:
        if self.mode == "live":
            self._live = Live(self.tracker.table(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.tracker.table())
            self._live.__exit__(None, None, None)

    def event(self, event: dict[str, Any]) -> bool:
        line = self.tracker.handle(event)
        if self.mode == "live" and self._live is not None:
            self._live.update(self.tracker.table())
        elif self.mode == "plain" and line:
            print(line, file=sys.stderr, flush=True)
        return True  # keep every event in the record


def recap_table(hosts: dict[str, Any]) -> Table:
    table = Table(title="Recap", title_justify="left")
    columns = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
    table.add_column("host")
    for column in columns:
        table.add_column(column, justify="right")
    for name in sorted(hosts):
        result = hosts[name]
        values = [getattr(result, c) for c in columns]
        style = "red" if result.failed or result.unreachable else (
            "yellow" if result.changed else "green")
        table.add_row(f"[{style}]{name}[/]", *(str(v) for v in values))
    return table
