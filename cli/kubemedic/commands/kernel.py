"""`kubemedic kernel upgrade`: rolling kernel upgrade with accelerator driver rebuild."""

from __future__ import annotations

import click

from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options


@click.group()
def kernel() -> None:
    """Node kernels (seed 000 #4: a kernel change broke the NPU driver)."""


@kernel.command()
@run_options
def upgrade(opts: RunOptions) -> None:
    """Move nodes to kernel_upgrade_version one at a time (playbooks/kernel-upgrade.yml).

    Per node: cordon + drain, install the target kernel and purge old ones, reboot, check
    `uname -r`, rebuild the GPU/NPU driver, verify devices, restart the device plugin, uncordon.
    The first failing node stops the rollout. Asks unless --yes.
    """
    confirmed = confirm_or_abort(opts, f"kernel upgrade with reboots on {opts.customer}"
                                 + (f" (limit {opts.limit})" if opts.limit else ""))
    exit_with(execute(opts, "kernel-upgrade", "kernel-upgrade.yml", confirmed=confirmed))
