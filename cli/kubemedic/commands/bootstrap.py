"""`kubemedic bootstrap`: converge playbooks/site.yml on a customer's cluster."""

from __future__ import annotations

import dataclasses

import click

from kubemedic.inventory.loader import load_and_validate
from kubemedic.options import RunOptions, execute, exit_with, run_options


@click.command()
@run_options
def bootstrap(opts: RunOptions) -> None:
    """Build or converge the cluster (playbooks/site.yml); re-runs change nothing.

    Use --tags to run single roles or steps (e.g. --tags container-runtime; docs/tags.md lists
    them) and --limit for some hosts. Without --tags/--skip-tags, the inventory's
    cluster_bootstrap_skip_tags are skipped. An unknown tag is refused (exit 2).
    """
    root, data = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)
    skip = data.cluster_vars().get("cluster_bootstrap_skip_tags") or []
    if skip and not opts.tags and not opts.skip_tags:
        click.echo(f"kubemedic: skipping {', '.join(skip)} (cluster_bootstrap_skip_tags of "
                   f"{opts.customer}); --tags or --skip-tags overrides it", err=True)
        opts = dataclasses.replace(opts, skip_tags=list(skip))
    exit_with(execute(opts, "bootstrap", "site.yml", inventory=root))
