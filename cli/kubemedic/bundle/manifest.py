"""Bundle manifest: what a bundle holds and how to check every byte of it."""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubemedic import inputs
from kubemedic.inputs import clip, shown

MANIFEST = "bundle.json"
FORMAT = 1
_CHUNK = 4 * 1024 * 1024


class BundleError(Exception):
    """A bundle problem; `path` names the offending file (relative to the bundle folder)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class VerifyResult:
    root: Path
    manifest: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    extra_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_DOMAIN = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


def split_ref(ref: str) -> tuple[str, str, str]:
    """'k8s.gcr.io/pause:3.2' -> ('k8s.gcr.io', 'pause', '3.2'); docker.io is the default domain."""
    if "@" in ref:
        raise ValueError(f"{ref}: digest references cannot be retagged; use name:tag")
    if not ref or ref != ref.strip() or " " in ref:
        raise ValueError(f"{ref!r}: not an image reference")
    head, _, rest = ref.partition("/")
    domain, path = (head, rest) if rest and _DOMAIN.match(head) else ("docker.io", ref)
    name, sep, tag = path.rpartition(":")
    if not sep or "/" in tag:
        name, tag = path, "latest"
    if domain == "docker.io" and "/" not in name:
        name = f"library/{name}"
    if not re.match(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+|/[a-z0-9]+)*$", name):
        raise ValueError(f"{ref}: invalid repository name {name!r}")
    return domain, name, tag


def normalize_ref(ref: str) -> str:
    """The form docker shows in RepoTags: docker.io/library/x → x, domain kept otherwise."""
    domain, name, tag = split_ref(ref)
    if domain == "docker.io":
        name = name.removeprefix("library/")
        return f"{name}:{tag}"
    return f"{domain}/{name}:{tag}"


def registry_name(ref: str) -> str:
    """Name of the image inside the private registry: the upstream domain is dropped.

    k8s.gcr.io/pause:3.2 -> pause:3.2 (pushed as <registry>/pause:3.2);
    nvidia/cuda:10.0-base -> nvidia/cuda:10.0-base; nginx -> nginx:latest.
    """
    domain, name, tag = split_ref(ref)
    if domain == "docker.io":
        name = name.removeprefix("library/")
    return f"{name}:{tag}"


def load_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if root.is_file():
        kind = "a tar archive" if tarfile.is_tarfile(root) else "a file"
        raise BundleError(str(root), f"is {kind}, not a bundle folder: a bundle is the folder "
                                     f"holding {MANIFEST} (unpack it first)")
    if not root.is_dir():
        raise BundleError(str(root), "bundle folder does not exist")
    if not path.is_file():
        raise BundleError(MANIFEST, f"missing in {root} (not a kubemedic bundle?)")
    try:
        data = inputs.load_json_file(path)
    except inputs.InputError as exc:
        raise BundleError(MANIFEST, f"unreadable or corrupt: {exc.message}"
                                    + (f" (line {exc.line})" if exc.line else "")) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(MANIFEST, f"not a kubemedic bundle manifest (format {FORMAT})")
    for key, kind in (("files", dict), ("images", list), ("packages", list)):
        if not isinstance(data.get(key), kind):
            raise BundleError(MANIFEST, f"field {key!r} must be a {'mapping' if kind is dict else 'list'}"
                                        f", found {shown(data.get(key))}")
    for name, entry in data["files"].items():
        if not isinstance(entry, dict) or not re.fullmatch(r"[0-9a-f]{64}",
                                                          str(entry.get("sha256", ""))) \
                or not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool):
            raise BundleError(MANIFEST, f"files.{clip(str(name), 60)}: lacks sha256/size")
        if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
            raise BundleError(MANIFEST, f"files.{clip(str(name), 60)}: points outside the bundle")
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("ref"), str):
            raise BundleError(MANIFEST, f"images[{index}]: must be a mapping with a 'ref' string, "
                                        f"found {shown(image)}")
    for index, package in enumerate(data["packages"]):
        if not isinstance(package, dict):
            raise BundleError(MANIFEST, f"packages[{index}]: {shown(package)} is not a package")
    return data


def verify(root: Path, *, checksums: bool = True) -> VerifyResult:
    """Check every file the manifest lists: present, same size (truncation), same sha256."""
    root = Path(root)
    manifest = load_manifest(root)
    result = VerifyResult(root=root, manifest=manifest)
    for name, entry in sorted(manifest["files"].items()):
        path = root / name
        if not path.is_file():
            result.problems.append(Problem(name, "missing"))
            continue
        size = path.stat().st_size
        if size != entry["size"]:
            what = "truncated" if size < entry["size"] else "larger than recorded"
            result.problems.append(Problem(name, f"{what}: {size} bytes, manifest says "
                                                 f"{entry['size']}"))
            continue
        if checksums:
            actual = sha256_file(path)
            if actual != entry["sha256"]:
                result.problems.append(Problem(name, f"corrupt: sha256 {actual}, manifest says "
                                                     f"{entry['sha256']}"))
    listed = set(manifest["files"]) | {MANIFEST}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in listed and not rel.endswith(".partial"):
            result.extra_files.append(rel)
    return result
