"""`kubemedic bundle create`: save images once, add .debs with an apt index, hash everything.

Docker runs wherever the operator's docker CLI points: the local engine of a connected dev-box,
or any reachable engine through DOCKER_HOST (e.g. ssh://root@node). `docker save` streams the
archive to this machine, so the bundle is always written here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubemedic.bundle.manifest import FORMAT, MANIFEST, normalize_ref, registry_name, sha256_file

IMAGES_ARCHIVE = "images.tar"
DEBS = "debs"


class CreateError(Exception):
    """Bad input for bundle create (missing image, unreadable .deb, ...): exit 2."""


@dataclass
class CreateRequest:
    output: Path
    images: list[str]
    debs: list[Path] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    docker: str = "docker"
    docker_host: str | None = None
    pull: bool = False
    force: bool = False
    kubernetes_version: str | None = None
    # A docker-archive used as images.tar as it is, without docker (e.g. the images
    # scripts/build-kubernetes packs); every requested image must be in it.
    images_archive: Path | None = None


Log = Callable[[str], None]


def _docker_env(request: CreateRequest) -> dict[str, str]:
    env = dict(os.environ)
    if request.docker_host:
        env["DOCKER_HOST"] = request.docker_host
    return env


def _docker(request: CreateRequest, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run([request.docker, *args], capture_output=True, text=True,
                                env=_docker_env(request), check=False)
    except FileNotFoundError as exc:
        raise CreateError(f"docker CLI {request.docker!r} not found") from exc
    if check and result.returncode != 0:
        where = request.docker_host or os.environ.get("DOCKER_HOST") or "the local engine"
        raise CreateError(f"docker {' '.join(args[:2])} failed on {where}: "
                          f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def check_images(request: CreateRequest, log: Log) -> dict[str, str]:
    """ref -> image id; pulls missing images with --pull, else names every missing one."""
    ids: dict[str, str] = {}
    missing: list[str] = []
    for ref in request.images:
        result = _docker(request, "image", "inspect", "--format", "{{.Id}}", ref, check=False)
        if result.returncode == 0:
            ids[ref] = result.stdout.strip()
        else:
            missing.append(ref)
    if missing and request.pull:
        for ref in missing:
            log(f"pulling {ref}")
            _docker(request, "pull", ref)
            ids[ref] = _docker(request, "image", "inspect", "--format", "{{.Id}}",
                               ref).stdout.strip()
        missing = []
    if missing:
        raise CreateError("images not present in the docker engine (pull them on a connected "
                          "machine, or pass --pull): " + ", ".join(missing))
    return ids


def read_archive(path: Path) -> dict[str, Any]:
    """What a `docker save` archive holds: per image its config id and layers, layer sizes."""
    with tarfile.open(path) as archive:
        members = {m.name: m for m in archive.getmembers()}
        handle = archive.extractfile("manifest.json")
        if handle is None:
            raise CreateError(f"{path}: no manifest.json (not a docker save archive)")
        entries = json.load(handle)
        layer_sizes: dict[str, int] = {}
        images = []
        for entry in entries:
            config = entry["Config"]
            image_id = "sha256:" + Path(config).name.removesuffix(".json")
            layers = list(entry.get("Layers") or [])
            for layer in layers:
                member = members.get(layer)
                if member is not None and member.issym():
                    member = members.get(str(Path(layer).parent / member.linkname))
                layer_sizes[layer] = member.size if member is not None else 0
            images.append({"id": image_id, "repo_tags": entry.get("RepoTags") or [],
                           "layers": layers})
    return {"images": images, "layer_sizes": layer_sizes}


def _deb_control(path: Path) -> dict[str, str]:
    try:
        out = subprocess.run(["dpkg-deb", "--field", str(path)], capture_output=True, text=True,
                             check=True).stdout
    except FileNotFoundError as exc:
        raise CreateError("dpkg-deb not found: bundling .debs needs a Debian/Ubuntu dev-box") \
            from exc
    except subprocess.CalledProcessError as exc:
        raise CreateError(f"{path}: not a readable .deb ({exc.stderr.strip()})") from exc
    fields: dict[str, str] = {}
    key = None
    for line in out.splitlines():
        if line.startswith((" ", "\t")) and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def write_apt_index(debs_dir: Path) -> list[dict[str, str]]:
    """Packages + Packages.gz for a flat repository: `deb [trusted=yes] file:/dir ./`."""
    stanzas: list[str] = []
    packages: list[dict[str, str]] = []
    for deb in sorted(debs_dir.glob("*.deb")):
        fields = _deb_control(deb)
        data = deb.read_bytes()
        fields.pop("Filename", None)
        fields.update({"Filename": f"./{deb.name}", "Size": str(len(data)),
                       "MD5sum": hashlib.md5(data, usedforsecurity=False).hexdigest(),  # apt field
                       "SHA256": hashlib.sha256(data).hexdigest()})
        stanzas.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
        packages.append({"package": fields.get("Package", "?"),
                         "version": fields.get("Version", "?"),
                         "architecture": fields.get("Architecture", "?"),
                         "file": f"{DEBS}/{deb.name}"})
    text = "\n\n".join(stanzas) + ("\n" if stanzas else "")
    (debs_dir / "Packages").write_text(text, encoding="utf-8")
    with gzip.GzipFile(debs_dir / "Packages.gz", "wb", mtime=0) as handle:
        handle.write(text.encode("utf-8"))
    return packages


def _collect_debs(request: CreateRequest, debs_dir: Path, log: Log) -> None:
    for source in request.debs:
        files = sorted(source.glob("*.deb")) if source.is_dir() else [source]
        if not files:
            raise CreateError(f"{source}: no .deb files")
        for deb in files:
            if not deb.is_file() or deb.suffix != ".deb":
                raise CreateError(f"{deb}: not a .deb file")
            shutil.copy2(deb, debs_dir / deb.name)
    if request.packages:
        log(f"downloading {', '.join(request.packages)} with apt-get download")
        result = subprocess.run(["apt-get", "download", *request.packages], cwd=debs_dir,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CreateError(f"apt-get download failed: {result.stderr.strip()}")


def create(request: CreateRequest, log: Log = lambda _msg: None) -> dict[str, Any]:
    out = request.output
    if (out / MANIFEST).exists() and not request.force:
        raise CreateError(f"{out} already holds a bundle; pass --force to replace it")
    if request.images_archive is not None:
        if not request.images_archive.is_file():
            raise CreateError(f"{request.images_archive}: no such image archive")
        tags = [normalize_ref(tag) for entry in read_archive(request.images_archive)["images"]
                for tag in entry["repo_tags"]]
        absent = [ref for ref in unique(normalize_ref(r) for r in request.images)
                  if ref not in tags]
        if absent:
            raise CreateError(f"not in {request.images_archive}: {', '.join(absent)}")
        request.images = tags
    if not request.images and not request.debs and not request.packages:
        raise CreateError("nothing to bundle: give --image/--images-file, kubeadm images or "
                          "--deb/--package")
    for ref in request.images:
        try:
            registry_name(ref)
        except ValueError as exc:
            raise CreateError(str(exc)) from exc
    images = unique(normalize_ref(ref) for ref in request.images)
    request.images = images
    started = time.monotonic()
    ids = check_images(request, log) if images and request.images_archive is None else {}
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".kubemedic-bundle-", dir=out))
    try:
        files: dict[str, dict[str, Any]] = {}
        manifest_images: list[dict[str, Any]] = []
        archive_info: dict[str, Any] = {"layer_sizes": {}}
        if images:
            if request.images_archive is not None:
                log(f"copying {request.images_archive} ({len(images)} images)")
                shutil.copyfile(request.images_archive, work / IMAGES_ARCHIVE)
            else:
                log(f"saving {len(images)} images into one archive (shared layers stored once)")
                _docker(request, "save", "-o", str(work / IMAGES_ARCHIVE), *images)
            (work / IMAGES_ARCHIVE).chmod(0o644)
            archive_info = read_archive(work / IMAGES_ARCHIVE)
            by_tag = {}
            for entry in archive_info["images"]:
                for tag in entry["repo_tags"]:
                    by_tag[normalize_ref(tag)] = entry
            for ref in images:
                entry = by_tag.get(ref)
                if entry is None:
                    raise CreateError(f"docker save did not include {ref}")
                if ids.get(ref) and ids[ref] != entry["id"]:
                    raise CreateError(f"{ref} changed while saving ({ids[ref]} -> {entry['id']})")
                manifest_images.append({
                    "ref": ref, "name": registry_name(ref), "id": entry["id"],
                    "layers": entry["layers"],
                    "size": sum(archive_info["layer_sizes"].get(x, 0) for x in entry["layers"]),
                })
        packages: list[dict[str, str]] = []
        if request.debs or request.packages:
            (work / DEBS).mkdir()
            _collect_debs(request, work / DEBS, log)
            packages = write_apt_index(work / DEBS)
        for path in sorted(work.rglob("*")):
            if path.is_file():
                rel = path.relative_to(work).as_posix()
                files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
        unique_layers = sum(archive_info["layer_sizes"].values())
        manifest = {
            "format": FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "created_by": "kubemedic bundle create",
            "kubernetes_version": request.kubernetes_version,
            "images": manifest_images,
            "packages": packages,
            "files": files,
            "stats": {
                "images": len(manifest_images),
                "unique_layers": len(archive_info["layer_sizes"]),
                "unique_layer_bytes": unique_layers,
                "sum_of_image_sizes": sum(i["size"] for i in manifest_images),
                "archive_bytes": files.get(IMAGES_ARCHIVE, {}).get("size", 0),
                "seconds": round(time.monotonic() - started, 2),
            },
        }
        # Replace the old bundle's content only once everything is written and hashed.
        for rel in (IMAGES_ARCHIVE, DEBS, MANIFEST):
            target = out / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for child in work.iterdir():
            child.rename(out / child.name)
        tmp_manifest = out / (MANIFEST + ".partial")
        tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp_manifest.replace(out / MANIFEST)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)
