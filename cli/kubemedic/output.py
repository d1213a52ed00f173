"""What every verb shares about output: --json documents (schemas in data/json-schema/,
docs/json.md), colour (--no-color, NO_COLOR), and the versions `kubemedic --version` prints."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import click
import yaml

from kubemedic import __version__, paths

# Version of the --json documents. Adding a field keeps it; removing, renaming or retyping one
# bumps it (docs/json.md). Each schema file's $id carries it.
JSON_SCHEMA_VERSION = 1
SCHEMA_PACKAGE = "kubemedic.data"
SCHEMA_FOLDER = "json-schema"
# Schema of every verb that runs a playbook through options.execute (its summary.json + record).
RUN_SCHEMA = "run"


def emit_json(document: Any) -> None:
    """Print one --json document on stdout (progress and notes go to stderr)."""
    click.echo(json.dumps(document, indent=2, default=str))


def schema_names() -> list[str]:
    folder = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)
    return sorted(item.name.removesuffix(".json") for item in folder.iterdir()
                  if item.name.endswith(".json"))


def load_schema(name: str) -> dict[str, Any]:
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER, f"{name}.json").read_text()
    return json.loads(text)


def disable_color() -> None:
    """--no-color: the NO_COLOR convention (no-color.org), which rich reads for every console
    created afterwards; Ansible's own output is always uncoloured (engine/runner.py)."""
    os.environ["NO_COLOR"] = "1"


def _kb_version() -> str:
    """The knowledge base has no release number of its own: its signature count and a digest
    of its files identify it (the same files give the same digest)."""
    from kubemedic.doctor import kb

    digest = hashlib.sha256()
    folder = resources.files(SCHEMA_PACKAGE).joinpath("kb")
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith((".yml", ".yaml")):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return f"{len(kb.load())} signatures, sha256:{digest.hexdigest()[:12]}"


def _collections_paths(project: Path) -> list[Path]:
    """Where ansible-playbook looks for collections in kubemedic's runs: ANSIBLE_COLLECTIONS_PATH,
    else the project's ansible.cfg collections_path (relative to that file)."""
    raw = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if raw is None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(project / "ansible.cfg")
        raw = config.get("defaults", "collections_path", fallback="")
    found: list[Path] = []
    for entry in filter(None, raw.split(os.pathsep)):
        path = Path(entry).expanduser()
        path = (project / path if not path.is_absolute() else path).resolve()
        if path not in found:
            found.append(path)
    return found


def installed_collections(project: Path) -> list[dict[str, str]]:
    """Each collection ansible-playbook finds first (name, version, path), as it would."""
    seen: dict[str, dict[str, str]] = {}
    for root in _collections_paths(project):
        for manifest in sorted([*root.glob("ansible_collections/*/*/MANIFEST.json"),
                                *root.glob("ansible_collections/*/*/galaxy.yml")]):
            folder = manifest.parent
            name = f"{folder.parent.name}.{folder.name}"
            if name in seen:
                continue
            if manifest.name == "MANIFEST.json":
                info = json.loads(manifest.read_text())["collection_info"]
            else:
                info = yaml.safe_load(manifest.read_text())
            seen[name] = {"name": name, "version": str(info.get("version")),
                          "path": str(folder.resolve())}
    return sorted(seen.values(), key=lambda c: c["name"])


def versions() -> dict[str, Any]:
    project = paths.project_root()
    return {"kubemedic": __version__, "ansible-core": metadata.version("ansible-core"),
            "ansible-runner": metadata.version("ansible-runner"),
            "project": str(project), "collections": installed_collections(project),
            "kb": _kb_version()}


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version (eager, like --help): every version an incident report should name."""
    if not value or ctx.resilient_parsing:
        return
    info = versions()
    click.echo(f"kubemedic {info['kubemedic']}\nansible-core {info['ansible-core']}\n"
               f"ansible-runner {info['ansible-runner']}\nproject {info['project']}")
    for collection in info["collections"]:
        click.echo(f"collection {collection['name']} {collection['version']} "
                   f"({collection['path']})")
    click.echo(f"kb {info['kb']}")
    ctx.exit(0)
