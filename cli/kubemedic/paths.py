"""Where kubemedic finds its playbooks, the customer inventories and its state."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
# A wheel's copy of the project, laid out as the collection kubemedic.cluster (pyproject.toml).
PACKAGED_CONTENT = _PACKAGE_DIR / "_content" / "ansible_collections" / "kubemedic" / "cluster"


def _is_project_root(path: Path) -> bool:
    return (path / "playbooks" / "site.yml").is_file() and (path / "roles").is_dir()


def project_root() -> Path:
    """The folder holding playbooks/ and roles/ (see docs/architecture.md for the order)."""
    env = os.environ.get("KUBEMEDIC_PROJECT_DIR")
    if env:
        root = Path(env).expanduser().resolve()
        if not _is_project_root(root):
            raise FileNotFoundError(f"KUBEMEDIC_PROJECT_DIR={env} holds no playbooks/site.yml")
        return root
    for candidate in [Path.cwd(), *Path.cwd().parents]:
        if _is_project_root(candidate):
            return candidate
    for candidate in _PACKAGE_DIR.parents:  # editable install from a checkout
        if _is_project_root(candidate):
            return candidate
    if _is_project_root(PACKAGED_CONTENT):
        return PACKAGED_CONTENT
    raise FileNotFoundError("cannot find kubemedic's playbooks; set KUBEMEDIC_PROJECT_DIR")


def inventory_dir(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("KUBEMEDIC_INVENTORY_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "inventories"


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return Path(base).expanduser() if base else Path.home() / fallback


def state_dir(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("KUBEMEDIC_STATE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return _xdg("XDG_DATA_HOME", ".local/share") / "kubemedic"


def cache_dir() -> Path:
    env = os.environ.get("KUBEMEDIC_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return _xdg("XDG_CACHE_HOME", ".cache") / "kubemedic"
