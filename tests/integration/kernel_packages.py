"""Kernel packages for the lab's kernel-upgrade tests. TEST DOUBLES: the lab nodes share the
dev-box's kernel and cannot boot another one, so a "kernel" is an empty .deb named like the
distribution's (linux-image-<release>, linux-headers-<release>) that apt can install and purge."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

KINDS = ("image", "headers")


def dummy_deb(name: str, out: Path) -> Path:
    """An installable, empty package `name` 1.0 (all) built with dpkg-deb into `out`."""
    root = out / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / name).mkdir(parents=True)
    (root / "usr" / "share" / "doc" / name / "README").write_text("test double kernel package\n")
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: kubemedic tests\n"
        f"Description: TEST DOUBLE kernel package {name}\n")
    deb = out / f"{name}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)],
                   check=True, capture_output=True)
    shutil.rmtree(root)
    return deb


def kernel_debs(release: str, out: Path) -> list[Path]:
    """linux-image-<release> and linux-headers-<release> in `out`."""
    return [dummy_deb(f"linux-{kind}-{release}", out) for kind in KINDS]


def host_kernel() -> str:
    """The dev-box's `uname -r`: the release every lab node runs (they share its kernel)."""
    return subprocess.run(["uname", "-r"], capture_output=True, text=True,
                          check=True).stdout.strip()
