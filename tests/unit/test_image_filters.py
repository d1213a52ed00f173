"""plugins/filter/kubemedic_images.py: which bundle images a node loads (a wrong "present" leaves
a node without an image it needs offline; a wrong "missing" copies the whole archive again on
every rerun) and the pause-image report of `recover pause-image`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_images",
    Path(__file__).resolve().parents[2] / "plugins" / "filter" / "kubemedic_images.py")
images = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(images)

BUNDLE = [{"ref": "app/web:1", "id": "sha256:aaa"}, {"ref": "app/worker:1", "id": "sha256:bbb"},
          {"ref": "pause:3.9", "id": "sha256:ccc"}]


@pytest.mark.parametrize(("ids", "missing"), [
    ({"app/web:1": "sha256:aaa", "app/worker:1": "sha256:bbb", "pause:3.9": "sha256:ccc"}, []),
    ({"app/web:1": "sha256:aaa", "app/worker:1": "-", "pause:3.9": "sha256:ccc"},
     ["app/worker:1"]),                                   # the probe's '-': not on the node
    ({"app/web:1": "sha256:old", "pause:3.9": "sha256:ccc"},
     ["app/web:1", "app/worker:1"]),                      # another image under the name; absent
    ({}, ["app/web:1", "app/worker:1", "pause:3.9"]),
])
def test_docker_compares_image_ids(ids, missing) -> None:
    skipped = {"results": [{"item": image, "skipped": True} for image in BUNDLE]}
    assert images.images_missing(BUNDLE, "docker", ids, skipped) == missing


def test_containerd_uses_the_probe_results() -> None:
    probe = {"results": [{"item": BUNDLE[0], "rc": 0}, {"item": BUNDLE[1], "rc": 1},
                         {"item": BUNDLE[2], "rc": 0}]}
    assert images.images_missing(BUNDLE, "containerd", {}, probe) == ["app/worker:1"]
    assert images.images_missing(BUNDLE, "containerd", None, {"results": []}) == []


def test_pause_image_states() -> None:
    long_error = "Error response from daemon: " + "open /var/lib/docker/overlay2/x " * 10
    results = [{"item": "registry.lan/pause:3.9", "rc": 0},
               {"item": "k8s.gcr.io/pause:3.9", "rc": 3, "stderr": "No such image"},
               {"item": "registry.k8s.io/pause:3.9", "rc": 1, "stderr": long_error},
               {"item": "pause:3.9", "rc": 1}]
    states = images.pause_image_states(results)
    assert states[:2] == ["registry.lan/pause:3.9: healthy", "k8s.gcr.io/pause:3.9: missing"]
    assert states[2].startswith("registry.k8s.io/pause:3.9: BROKEN (layers missing): Error response")
    assert states[2].endswith("...") and len(states[2]) < len(long_error)
    assert states[3] == "pause:3.9: BROKEN (layers missing): "
