"""Options shared by every verb that runs playbooks, declared once, and the code that runs them."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from kubemedic import errors, inputs, lock, output, playbook_tags
from kubemedic.engine.progress import Display, recap_table
from kubemedic.engine.runner import RunRequest, RunResult, run_playbook
from kubemedic.inventory.loader import load_and_validate


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_extravars(values: tuple[str, ...]) -> dict[str, Any]:
    """-e key=value, -e '{"json": 1}', -e @file.yml — like ansible-playbook, read through
    kubemedic.inputs (bounded, UTF-8, no alias bombs); bad input is exit 2 naming the option."""
    merged: dict[str, Any] = {}
    for value in values:
        source = f"-e {inputs.shown(value, 60)}"
        if value.startswith("@"):
            loaded = inputs.load_yaml_file(value[1:]) or {}
        elif value.lstrip().startswith("{"):
            loaded = inputs.load_yaml(value, source)
        elif "=" in value:
            key, _, raw = value.partition("=")
            key = key.strip()
            if not key.isidentifier():
                raise errors.KubemedicUsageError(
                    f"{source}: {inputs.shown(key)} is not a variable name")
            loaded = {key: inputs.load_yaml(raw, source) if raw else ""}
        else:
            raise errors.KubemedicUsageError(f"{source}: expected key=value, JSON or @file")
        if not isinstance(loaded, dict):
            raise errors.KubemedicUsageError(f"{source}: must define a mapping of variables")
        bad = [k for k in loaded if not isinstance(k, str) or not k.isidentifier()]
        if bad:
            raise errors.KubemedicUsageError(
                f"{source}: {inputs.shown(bad[0])} is not a variable name")
        merged.update(loaded)
    return merged


@dataclass
class RunOptions:
    customer: str
    limit: str | None
    tags: list[str]
    skip_tags: list[str]
    extravars: dict[str, Any]
    check: bool
    diff: bool
    verbose: int
    yes: bool
    json_output: bool
    inventory_dir: str | None = None
    state_dir: str | None = None
    vault_password_file: str | None = None
    wait_lock: bool = False


def complete_customer(ctx: click.Context, _param: click.Parameter,
                      incomplete: str) -> list[str]:
    """Shell completion of -c: the inventory folders (kubemedic completion)."""
    from kubemedic import paths

    try:
        folder = paths.inventory_dir(ctx.find_root().params.get("inventory_dir"))
    except FileNotFoundError:
        return []
    return sorted(p.name for p in folder.glob(f"{incomplete}*") if (p / "hosts.yml").is_file())


def customer_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-c", "--customer", required=True, envvar="KUBEMEDIC_CUSTOMER",
                        shell_complete=complete_customer,
                        help="Customer inventory: inventories/<customer>/ "
                             "(env KUBEMEDIC_CUSTOMER).")(func)


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the common run options and passes one RunOptions object as `opts`."""
    decorators = [
        customer_option,
        click.option("--limit", "-l", help="Only these hosts/groups (Ansible pattern)."),
        click.option("--tags", "-t", multiple=True, help="Only these tags (repeat or a,b)."),
        click.option("--skip-tags", multiple=True, help="Skip these tags (repeat or a,b)."),
        click.option("-e", "--extra-vars", "extra_vars", multiple=True,
                     help="Extra variables: key=value, JSON or @file."),
        click.option("--check", is_flag=True, help="Dry run: report what would change."),
        click.option("--diff", is_flag=True, help="Show file differences."),
        click.option("-v", "--verbose", count=True, help="Ansible verbosity (-v .. -vvvv)."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask before destructive steps."),
        click.option("--json", "json_output", is_flag=True,
                     help="Print a machine-readable summary instead of progress."),
        click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
                     envvar="KUBEMEDIC_VAULT_PASSWORD_FILE",
                     help="Decrypt vaulted inventory values (never copied into the record)."),
        click.option("--wait", "wait_lock", is_flag=True,
                     help="Queue behind another run on the same customer instead of refusing."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, customer: str, limit: str | None, tags: tuple[str, ...],
                skip_tags: tuple[str, ...], extra_vars: tuple[str, ...], check: bool, diff: bool,
                verbose: int, yes: bool, json_output: bool, vault_password_file: str | None,
                wait_lock: bool, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        root = ctx.find_root().params
        opts = RunOptions(customer=customer, limit=limit, tags=_split(tags),
                          skip_tags=_split(skip_tags), extravars=parse_extravars(extra_vars),
                          check=check, diff=diff, verbose=verbose, yes=yes,
                          json_output=json_output, inventory_dir=root.get("inventory_dir"),
                          state_dir=root.get("state_dir"), vault_password_file=vault_password_file,
                          wait_lock=wait_lock)
        return func(*args, opts=opts, **kwargs)

    # Its --json prints the run summary (docs/json.md), unless the verb has a schema of its own.
    wrapper.json_schema = output.RUN_SCHEMA  # type: ignore[attr-defined]
    for decorator in reversed(decorators):
        wrapper = decorator(wrapper)
    return wrapper


def confirm_or_abort(opts: RunOptions, what: str) -> bool:
    """Ask before a destructive step; returns True when confirmed (the playbook is told so)."""
    if opts.yes or opts.check:
        return opts.yes
    if not sys.stdin.isatty():
        raise errors.KubemedicUsageError(
            f"{what} is destructive and needs confirmation: re-run with --yes "
            "(no terminal to ask on)")
    if not click.confirm(f"{what}. Continue?", default=False, err=True):
        raise errors.DeclinedError(what)
    return True


def check_tags(opts: RunOptions, playbook: str) -> None:
    """--tags/--skip-tags name tags the playbook has (exit 2 naming every unknown one)."""
    problems = [f"{flag}: {problem}"
                for flag, tags in (("--tags", opts.tags), ("--skip-tags", opts.skip_tags))
                for problem in playbook_tags.unknown(playbook, tags)]
    if problems:
        raise errors.KubemedicUsageError(
            f"playbooks/{playbook} has no such tag (tags are lower-case with hyphens; "
            "docs/tags.md lists them); nothing was run", problems)


def execute(opts: RunOptions, verb: str, playbook: str, *, extravars: dict[str, Any] | None = None,
            tags: list[str] | None = None, confirmed: bool = False,
            inventory: Path | None = None,
            after_run: Callable[[RunResult], None] | None = None) -> RunResult:
    """Validate the inventory, run the playbook with progress, print the recap, exit with its code.

    Nothing is contacted before the tags and the inventory validate (exit 2 otherwise); `inventory` is the
    root of one the caller has already validated. `after_run` sees the result before the recap
    (a verb adding what the play recorded to summary.extra, so --json carries it).
    """
    check_tags(opts, playbook)
    root = inventory or load_and_validate(opts.customer, opts.inventory_dir,
                                          opts.vault_password_file)[0]
    request = RunRequest(
        customer=opts.customer, verb=verb, playbook=playbook, inventory=root, limit=opts.limit,
        tags=tags if tags is not None else opts.tags, skip_tags=opts.skip_tags,
        extravars={**(extravars or {}), **opts.extravars}, check=opts.check, diff=opts.diff,
        verbosity=opts.verbose, confirmed=confirmed or opts.yes, state_dir=opts.state_dir,
        vault_password_file=opts.vault_password_file)
    display = Display(mode="quiet" if opts.json_output else "auto")
    held = (lock.customer_lock(opts.customer, verb, state_dir=opts.state_dir, wait=opts.wait_lock,
                               on_wait=lambda message: click.echo(message, err=True))
            if lock.needs_lock(verb, opts.check) else contextlib.nullcontext())
    with held:
        result = run_playbook(request, display)
    if after_run is not None:
        after_run(result)
    report(opts, result)
    return result


def report(opts: RunOptions, result: RunResult) -> None:
    summary = result.summary
    if opts.json_output:
        output.emit_json({**summary.to_json(), "record": str(result.record)})
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)  # logs and CI: do not squeeze the recap
    if summary.hosts:
        console.print(recap_table(summary.hosts))
    for note in summary.reports:
        console.print(f"[cyan]report[/] {escape(note['host'])}: {escape(note['task'])}\n"
                      f"  {escape(note['message'])}")
    verb = "would change" if summary.check else "changed"
    for item in (summary.extra or {}).get("diffs") or []:
        console.print(f"[yellow]{verb}[/] {escape(item['host'])}: {escape(item['file'])} "
                      f"({escape(item['task'])})")
        console.print(item["diff"].rstrip("\n"), markup=False, highlight=False)
    for failure in summary.failures:
        where = f"{failure['host']}: {failure['task']}" if failure.get("host") else "ansible"
        # what failed says it in its own words: kubeadm's "[kubeconfig]", nginx's "[emerg]"
        console.print(f"[red]{failure['outcome']}[/] {escape(where)}\n  {escape(failure['message'])}")
    verdict = {0: "[green]ok[/]", 3: "[red]failed[/]", 4: "[red]unreachable hosts[/]"}.get(
        summary.rc or 0, "[red]error[/]")
    console.print(f"{summary.verb}: {verdict} in {summary.duration_seconds}s; "
                  f"record: {result.record}")


def exit_with(result: RunResult) -> None:
    ctx = click.get_current_context()
    ctx.exit(result.rc)
