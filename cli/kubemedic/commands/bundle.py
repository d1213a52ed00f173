"""`kubemedic bundle create|verify`: offline image + package bundles for air-gapped clusters."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from kubemedic import inputs
from kubemedic.errors import KubemedicUsageError


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{size} B"


def _customer_settings(customer: str | None) -> dict:
    if not customer:
        return {}
    from kubemedic.inventory.loader import load_and_validate

    root = click.get_current_context().find_root().params
    _root, data = load_and_validate(customer, root.get("inventory_dir"))
    return data.cluster_vars()


def resolve_bundle_dir(bundle: str | None, customer: str | None) -> Path:
    if bundle:
        return Path(bundle).expanduser().resolve()
    settings = _customer_settings(customer)
    if settings.get("cluster_bundle_dir"):
        return Path(settings["cluster_bundle_dir"])
    raise KubemedicUsageError("no bundle folder: pass --bundle DIR, or -c CUSTOMER with "
                              "cluster_bundle_dir set in its group_vars/all.yml")


def verify_or_exit(path: Path, console: Console | None = None) -> dict:
    """Verify a bundle; any problem is a usage error (exit 2) naming the file."""
    from kubemedic.bundle.manifest import BundleError, verify

    try:
        result = verify(path)
    except BundleError as exc:
        raise KubemedicUsageError(f"bundle {path} refused: {exc}") from exc
    if not result.ok:
        raise KubemedicUsageError(f"bundle {path} refused ({len(result.problems)} problems); "
                                  "nothing was copied", [str(p) for p in result.problems])
    if console is not None and result.extra_files:
        console.print(f"[yellow]note[/]: files not in the manifest (ignored): "
                      f"{', '.join(result.extra_files)}")
    return result.manifest


@click.group()
def bundle() -> None:
    """Offline bundles: one multi-image archive + .debs with an apt index + sha256 manifest."""


@bundle.command()
@click.option("-c", "--customer", envvar="KUBEMEDIC_CUSTOMER",
              help="Read cluster_kubernetes_version and cluster_bundle_dir from this inventory.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Bundle folder (default: the customer's cluster_bundle_dir).")
@click.option("--image", "images", multiple=True, help="Image to include (repeat).")
@click.option("--images-file", type=click.Path(),
              help="File with one image per line (# comments allowed).")
@click.option("--kubernetes-version", help="Add kubeadm's images for this version "
              "(default: the customer's cluster_kubernetes_version).")
@click.option("--kubeadm-images/--no-kubeadm-images", default=True, show_default=True,
              help="Include the images kubeadm needs for the Kubernetes version.")
@click.option("--deb", "debs", multiple=True, type=click.Path(exists=True),
              help=".deb file or folder of .debs to include (repeat).")
@click.option("--package", "packages", multiple=True,
              help="Debian package to fetch with `apt-get download` (repeat; no dependencies).")
@click.option("--docker-host", envvar="DOCKER_HOST",
              help="Docker engine holding the images (e.g. ssh://root@10.0.0.5); "
                   "default: the docker CLI's own (DOCKER_HOST).")
@click.option("--pull", is_flag=True, help="docker pull images the engine does not have yet.")
@click.option("--images-archive", type=click.Path(exists=True, dir_okay=False),
              help="A docker-archive (docker save format, e.g. the images.tar of "
                   "scripts/build-kubernetes) to bundle as it is, without docker; every --image "
                   "must be in it.")
@click.option("--force", is_flag=True, help="Replace an existing bundle in the folder.")
@click.option("--json", "json_output", is_flag=True, help="Print the manifest summary as JSON.")
def create(customer, output, images, images_file, kubernetes_version, kubeadm_images, debs,
           packages, docker_host, pull, images_archive, force, json_output) -> None:
    """Write ONE bundle: images.tar (docker save of all images, shared layers once), debs/ with
    a Packages index, and bundle.json with the sha256 of every file."""
    from kubemedic.bundle.create import CreateError, CreateRequest
    from kubemedic.bundle.create import create as do_create
    from kubemedic.bundle.kubeadm_images import kubeadm_images as kubeadm_list

    console = Console(stderr=True)
    settings = _customer_settings(customer)
    out = Path(output).resolve() if output else None
    if out is None and settings.get("cluster_bundle_dir"):
        out = Path(settings["cluster_bundle_dir"])
    if out is None:
        raise KubemedicUsageError("no output folder: pass -o DIR or -c CUSTOMER with "
                                  "cluster_bundle_dir")
    refs = list(images)
    if images_file:  # read like every input: bounded, UTF-8 or exit 2 naming the file and line
        lines = inputs.read_text(images_file).splitlines()
        refs += [ref for ref in (line.split("#", 1)[0].strip() for line in lines) if ref]
    version = kubernetes_version or settings.get("cluster_kubernetes_version")
    if kubeadm_images and version:
        try:
            refs = kubeadm_list(str(version)) + refs
        except ValueError as exc:
            raise KubemedicUsageError(str(exc)) from exc
    request = CreateRequest(output=out, images=refs, debs=[Path(d) for d in debs],
                            packages=list(packages), docker_host=docker_host, pull=pull,
                            force=force, kubernetes_version=str(version) if version else None,
                            images_archive=Path(images_archive) if images_archive else None)
    try:
        manifest = do_create(request, log=lambda msg: console.print(f"[dim]{msg}[/]"))
    except CreateError as exc:
        raise KubemedicUsageError(f"bundle create: {exc}") from exc
    stats = manifest["stats"]
    if json_output:
        click.echo(json.dumps({"bundle": str(out), "stats": stats,
                               "images": [i["ref"] for i in manifest["images"]],
                               "packages": manifest["packages"]}, indent=2))
        return
    console.print(f"bundle {out}: {stats['images']} images, {len(manifest['packages'])} "
                  f"packages; images.tar {_human(stats['archive_bytes'])} for "
                  f"{_human(stats['sum_of_image_sizes'])} of images "
                  f"({stats['unique_layers']} unique layers, "
                  f"{_human(stats['unique_layer_bytes'])})")


@bundle.command("verify")
@click.argument("path", required=False, type=click.Path())
@click.option("-c", "--customer", envvar="KUBEMEDIC_CUSTOMER",
              help="Verify this customer's cluster_bundle_dir.")
@click.option("--json", "json_output", is_flag=True)
def verify_cmd(path, customer, json_output) -> None:
    """Check every file of a bundle (present, size, sha256); exit 2 naming any bad file."""
    console = Console(stderr=True)
    where = resolve_bundle_dir(path, customer)
    manifest = verify_or_exit(where, console)
    if json_output:
        click.echo(json.dumps({"bundle": str(where), "ok": True,
                               "files": len(manifest["files"]),
                               "images": [i["ref"] for i in manifest["images"]]}, indent=2))
        return
    console.print(f"[green]ok[/] {where}: {len(manifest['files'])} files, "
                  f"{len(manifest['images'])} images, {len(manifest['packages'])} packages "
                  "match bundle.json")
