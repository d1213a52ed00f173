"""`recover registry-gc` on a registry nothing was pushed to yet (issue 14): the collector exits 1
with "Path not found: /docker/registry/v2/repositories", the step failed (exit 3) and left
docker-registry stopped. An empty registry is not an error, and the registry is started again
whatever the collector says (block/always)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_images", REPO / "plugins" / "filter" / "kubemedic_images.py")
images = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(images)

# What Debian bookworm's docker-registry 2.8.2 prints on a fresh registry (seen on a lab node).
EMPTY = ("failed to garbage collect: failed to mark: filesystem: Path not found: "
         "/docker/registry/v2/repositories")


@pytest.mark.parametrize(("result", "empty"), [
    ({"rc": 1, "stdout": "", "stderr": EMPTY}, True),
    ({"rc": 1, "stdout": EMPTY + "\n", "stderr": ""}, True),
    ({"rc": 0, "stdout": "library/busybox\n0 blobs marked, 0 blobs eligible for deletion"}, False),
    ({"rc": 1, "stdout": "", "stderr": EMPTY + "/x/_manifests"}, False),
    ({"rc": 1, "stdout": "", "stderr": "configuration error: open /etc/docker/registry/config.yml"}, False),
    ({"skipped": True}, False),
])
def test_registry_gc_empty(result: dict, empty: bool) -> None:
    assert images.registry_gc_empty(result) is empty


def test_the_registry_is_started_again_whatever_happens() -> None:
    path = REPO / "roles" / "registry" / "tasks" / "recover_registry_gc.yml"
    tasks = yaml.safe_load(path.read_text())
    guarded = next(t for t in tasks if "block" in t)
    names = [t["name"] for t in guarded["block"]]
    assert names == ["Registry | stop the registry for garbage-collect", "Registry | garbage-collect"]
    started = [t for t in guarded["always"]
               if t.get("ansible.builtin.systemd_service", {}).get("state") == "started"]
    assert started and started[0]["ansible.builtin.systemd_service"]["name"] == "docker-registry"
    gc = next(t for t in guarded["block"] if t["name"] == "Registry | garbage-collect")
    assert "kubemedic_registry_gc_empty" in gc["failed_when"]
    # nothing outside the block stops the service
    assert not [t for t in tasks if t.get("ansible.builtin.systemd_service", {}).get("state") == "stopped"]
