"""scripts/pack-kubernetes packs once when called concurrently (make test's background build and
each real-cluster lab call it together on a cold cache). Before the lock, a second packer that
finished later replaced the first one's folder while a lab read it: `lab up` failed with
"pack-...: no images.tar" (the CI rehearsal of 2026-12-03)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import time
from pathlib import Path

from tests.unit.concurrently import run_at_once

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pack-kubernetes"


def load():
    loader = importlib.machinery.SourceFileLoader("pack_kubernetes_lock", str(SCRIPT))
    spec = importlib.util.spec_from_loader("pack_kubernetes_lock", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pack_kubernetes_lock"] = module
    loader.exec_module(module)
    return module


def test_concurrent_packs_pack_once_and_all_get_the_finished_folder(monkeypatch, tmp_path) -> None:
    module = load()
    try:
        calls: list[Path] = []

        def slow_pack(bin_dir: Path, target: Path, script_hash: str) -> Path:
            calls.append(target)
            time.sleep(0.3)
            target.mkdir()
            (target / "images.tar").write_text("archive")
            (target / "DONE").touch()
            return target

        monkeypatch.setattr(module, "_pack", slow_pack)
        monkeypatch.setattr(module, "log", lambda _message: None)
        results = run_at_once([lambda: module.pack(tmp_path / "bin", tmp_path)] * 3)
        assert len(calls) == 1, calls
        assert len(results) == 3 and len(set(results)) == 1
        assert (results[0] / "images.tar").read_text() == "archive"
    finally:
        sys.modules.pop("pack_kubernetes_lock", None)
