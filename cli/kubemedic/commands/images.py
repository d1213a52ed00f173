"""`kubemedic images load|push`: distribute an offline bundle and fill the private registry.

Both run playbooks/site.yml's offline_images role (tags images-load / images-push); the bundle
is verified here first, so a corrupt or truncated bundle is refused before anything is copied.
"""

from __future__ import annotations

import click
from rich.console import Console

from kubemedic.commands.bundle import resolve_bundle_dir, verify_or_exit
from kubemedic.options import RunOptions, execute, exit_with, run_options

_BUNDLE = click.option("--bundle", type=click.Path(),
                       help="Bundle folder (default: the customer's cluster_bundle_dir).")


@click.group()
def images() -> None:
    """Load offline images on the nodes and push them to the private registry."""


def _run(opts: RunOptions, bundle: str | None, verb: str, tag: str) -> None:
    where = resolve_bundle_dir(bundle, opts.customer)
    console = Console(stderr=True)
    manifest = verify_or_exit(where, None if opts.json_output else console)
    if not opts.json_output:
        console.print(f"bundle {where} verified: {len(manifest['images'])} images")
    exit_with(execute(opts, verb, "site.yml", tags=[tag, *opts.tags],
                      extravars={"offline_images_bundle_dir": str(where)}))


@images.command()
@_BUNDLE
@run_options
def load(opts: RunOptions, bundle: str | None) -> None:
    """Copy the bundle's image archive to every node (only where images are missing, by
    digest), docker load it and tag every image with its private-registry name."""
    _run(opts, bundle, "images-load", "images-load")


@images.command()
@_BUNDLE
@run_options
def push(opts: RunOptions, bundle: str | None) -> None:
    """Push the bundle's images to the private registry (skips images the registry already
    has with the same digest); loads them on the pushing node first if needed."""
    _run(opts, bundle, "images-push", "images-push")
