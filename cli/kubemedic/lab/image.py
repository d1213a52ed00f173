"""The lab node image: Debian 12 + systemd + sshd + python3, built with debootstrap, no registry.

Built once and cached by the content of its recipe: the image tag carries a hash of everything
that goes into it, so a changed recipe builds a new image and an unchanged one costs nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from kubemedic import paths

SUITE = "bookworm"
MIRROR = os.environ.get("KUBEMEDIC_LAB_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "systemd", "systemd-sysv", "openssh-server", "python3",
    "python3-apt",  # Ansible's apt module and Mitogen need it; Mitogen cannot install it itself
    "sudo", "iproute2", "procps", "ca-certificates",
    "dbus",  # hostnamectl/timedatectl reach systemd over D-Bus, as on every real server
)
# Changes made inside the rootfs after debootstrap (part of the recipe hash).
_SOURCES = f"""deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
_SSHD = "PermitRootLogin prohibit-password\nUseDNS no\nPasswordAuthentication no\n"
# apt timers would grab the dpkg lock in the middle of a converge.
_MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "getty@tty1.service",
                 "systemd-logind.service", "e2scrub_reap.service")
RECIPE_VERSION = "3"


def recipe_hash() -> str:
    recipe = json.dumps([RECIPE_VERSION, SUITE, MIRROR, PACKAGES, _SOURCES, _SSHD, _MASKED_UNITS])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def image_name() -> str:
    return f"localhost/kubemedic-node:{recipe_hash()}"


def _image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], check=False).returncode == 0


def _customise(rootfs: Path) -> None:
    (rootfs / "etc/apt/sources.list").write_text(_SOURCES)
    (rootfs / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/ssh/sshd_config.d/kubemedic-lab.conf").write_text(_SSHD)
    (rootfs / "etc/machine-id").write_text("")  # each node gets its own at first boot
    (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    for unit in _MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (rootfs / "etc/hostname").unlink(missing_ok=True)


def ensure_image(log=print) -> str:
    """Return the node image name, building it first if this recipe has no image yet."""
    name = image_name()
    if _image_exists(name):
        return name
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (apt-get install podman runc debootstrap)")
    cache = paths.cache_dir() / "lab"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "image-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent `lab up` calls build once
        if _image_exists(name):
            return name
        rootfs = cache / f"rootfs-{recipe_hash()}"
        if rootfs.exists():
            shutil.rmtree(rootfs)
        log(f"building lab node image {name} with debootstrap (about a minute, once)")
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        SUITE, str(rootfs), MIRROR], check=True, stdout=subprocess.DEVNULL)
        _customise(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "--change", "CMD=/sbin/init", "-", name],
                       stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise RuntimeError("tar of the lab rootfs failed")
        shutil.rmtree(rootfs)
    return name
