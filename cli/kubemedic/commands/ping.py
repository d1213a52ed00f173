"""`kubemedic ping`: check that every node answers over ssh with python."""

from __future__ import annotations

import click

from kubemedic.options import RunOptions, execute, exit_with, run_options


@click.command()
@run_options
def ping(opts: RunOptions) -> None:
    """Check ssh + python on every node (the first thing to try on a new site)."""
    exit_with(execute(opts, "ping", "ping.yml"))
