"""kubemedic command line: one module per verb group under commands/, registered here."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from kubemedic import output
from kubemedic.engine import interruption
from kubemedic.errors import KubemedicUsageError
from kubemedic.inputs import InputError

# (module under kubemedic.commands, click command object name). Order = order in --help.
COMMANDS: list[tuple[str, str]] = [
    ("init", "init"),
    ("inventory", "inventory"),
    ("ping", "ping"),
    ("bootstrap", "bootstrap"),
    ("doctor", "doctor"),
    ("doctor", "explain"),
    ("recover", "recover"),
    ("kube", "reset"),
    ("kube", "node"),
    ("heal", "heal"),
    ("kernel", "kernel"),
    ("bundle", "bundle"),
    ("images", "images"),
    ("etcd", "etcd"),
    ("history", "history"),
    ("report", "report"),
    ("lab", "lab"),
    ("completion", "completion"),
]


class KubemedicGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # keep registration order, not alphabetical

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        # As typed: a run record keeps it so that doctor can say what to re-run.
        interruption.ARGV[:] = list(sys.argv[1:] if args is None else args)
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:  # any file or value read through kubemedic.inputs
            raise KubemedicUsageError(f"{exc}\nnothing was run") from None


@click.group(cls=KubemedicGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=output.print_version,
              help="Versions of kubemedic, ansible-core, the collections and the KB, then exit.")
# NO_COLOR itself is read by rich (any non-empty value, no-color.org), not parsed as a flag here.
@click.option("--no-color", is_flag=True,
              help="No colour in tables and messages (the same as setting NO_COLOR).")
@click.option("--inventory-dir", envvar="KUBEMEDIC_INVENTORY_DIR", type=click.Path(),
              help="Folder holding <customer>/ inventories (default: <project>/inventories).")
@click.option("--state-dir", envvar="KUBEMEDIC_STATE_DIR", type=click.Path(),
              help="Where run records and lab keys live (default: ~/.local/share/kubemedic).")
@click.option("--strict", is_flag=True, envvar="KUBEMEDIC_STRICT",
              help="Inventory warnings (host in no group, unknown group, orphan host_vars, "
                   "duplicate keys) are errors (exit 2).")
def cli(inventory_dir: str | None, state_dir: str | None, no_color: bool, strict: bool) -> None:
    """Build, diagnose and repair on-premise AI Kubernetes clusters (GPU/NPU), offline-first.

    Exit codes: 0 ok, 2 bad input (nothing touched), 3 a task failed, 4 host unreachable,
    5 critical doctor finding, 6 confirmation declined, 7 customer busy (another run holds
    it), 8 interrupted (SIGINT/SIGTERM; the record says what ran where). Every verb takes
    --json (docs/json.md).
    """
    if no_color:
        output.disable_color()


for _module, _name in COMMANDS:
    cli.add_command(getattr(importlib.import_module(f"kubemedic.commands.{_module}"), _name))
