"""`kubemedic bootstrap`: converge playbooks/site.yml on a customer's cluster."""

from __future__ import annotations

import click

from kubemedic.options import RunOptions, execute, exit_with, run_options


@click.command()
@run_options
def bootstrap(opts: RunOptions) -> None:
    """Build or converge the cluster (playbooks/site.yml); re-runs change nothing.

    Use --tags to run single roles (e.g. --tags common) and --limit for some hosts.
    """
    exit_with(execute(opts, "bootstrap", "site.yml"))
