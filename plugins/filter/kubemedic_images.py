"""Filters for container images on the nodes: which bundle images a node must load, what the
pause-image probe of `recover pause-image` found, and whether the registry's garbage collector
only found an empty registry (`recover registry-gc`)."""

from __future__ import annotations

import re
from typing import Any


def _shorten(text: str, length: int = 160, end: str = "...") -> str:
    """Jinja's `truncate(length)`: whole words, `...` appended, 5 characters of leeway."""
    if len(text) <= length + 5:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def pause_image_states(results: Any) -> list[str]:
    """`<ref>: healthy | missing | BROKEN (layers missing): <error>` per pause-image probe result
    (a registered loop: rc 0 = `docker save` read every layer, 3 = no such image, else broken)."""
    states = []
    for probe in results or []:
        rc = probe.get("rc")
        if rc == 0:
            state = "healthy"
        elif rc == 3:
            state = "missing"
        else:
            state = "BROKEN (layers missing): " + _shorten(str(probe.get("stderr") or ""))
        states.append(f"{probe['item']}: {state}")
    return states


def images_missing(images: Any, engine: Any, ids: Any = None, ctr_probe: Any = None) -> list[str]:
    """Refs of the bundle images (`[{ref, id}]`) this node must load.

    docker: the image id behind the ref (`ids`, {ref: id} from one `docker image inspect` per
    node) is not the bundle's. containerd: the per-image probe (a registered loop over `images`)
    failed; skipped results (another engine) count as present.
    """
    if engine == "docker":
        known = ids or {}
        return [image["ref"] for image in images or [] if known.get(image["ref"], "") != image["id"]]
    return [probe["item"]["ref"] for probe in (ctr_probe or {}).get("results", [])
            if "skipped" not in probe and probe.get("rc") != 0]


_GC_EMPTY = re.compile(
    r"failed to mark: filesystem: Path not found: \S*/docker/registry/v2/repositories/?\s*$", re.MULTILINE)


def registry_gc_empty(result: Any) -> bool:
    """True when `docker-registry garbage-collect` failed only because the registry holds no
    repository yet (nothing was ever pushed):
    `failed to garbage collect: failed to mark: filesystem: Path not found: /docker/registry/v2/repositories`.
    An empty registry has nothing to collect; that is not an error."""
    if not isinstance(result, dict) or result.get("rc", 0) == 0:
        return False
    text = f"{result.get('stdout', '')}\n{result.get('stderr', '')}"
    return _GC_EMPTY.search(text) is not None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kubemedic_pause_image_states": pause_image_states,
            "kubemedic_images_missing": images_missing,
            "kubemedic_registry_gc_empty": registry_gc_empty,
        }
