"""lab/kubernetes.py debian_debs: labs brought up at once on a cold cache (make test starts the
three real-cluster modules together) resolve the nodes' Debian packages once; the others wait
and reuse the folder (before, each removed the others' work folder and one lab's scp failed)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from kubemedic.lab import kubernetes
from tests.unit.concurrently import run_at_once


def test_concurrent_labs_resolve_the_packages_once(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("KUBEMEDIC_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str] = []

    def resolve(info, pack, target: Path, node: str, log) -> Path:
        calls.append(node)
        time.sleep(0.3)  # long enough for the other labs to arrive while this one works
        target.mkdir(parents=True)
        (target / "DONE").write_text("done\n")
        return target

    monkeypatch.setattr(kubernetes, "_resolve_debian_debs", resolve)
    infos = [SimpleNamespace(image="km-lab:1", nodes=[SimpleNamespace(
        name=f"lab{i}-outside1", role="outside")]) for i in range(3)]
    results = run_at_once([lambda i=info: kubernetes.debian_debs(
        i, tmp_path / "pack-1", log=lambda _m: None) for info in infos])
    assert len(calls) == 1, calls
    assert len(results) == 3 and len(set(results)) == 1
    assert (results[0] / "DONE").is_file()
