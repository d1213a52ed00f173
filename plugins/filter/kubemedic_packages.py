"""Filters for the container_runtime role's packages: apt pins and what dpkg already has.

A rerun calls `dpkg-query` (milliseconds) instead of the apt module (about 0.3 s of CPU per
node); these filters decide from its answer, like apt would, whether apt must run and which held
packages a new pin must release first. Every doubtful answer sends the run to apt: a wrong
"nothing to do" would leave a node without a package or at the wrong version, silently.
"""

from __future__ import annotations

import re
from typing import Any

# dpkg-query ${db:Status-Abbrev}: desired action, then status; `?i ` = installed, no error flag.
_CLEAN_INSTALL = re.compile(r".i ")


def _version(value: Any) -> str:
    return "" if value is None else str(value)


def _pattern(version: str) -> str:
    """Regex an installed version must match to satisfy the pin: the version literally, with
    apt's `*` wildcard (`20.10*`) as `.*`."""
    return "^" + re.escape(version).replace("\\*", ".*") + "$"


def apt_pins(packages: Any, docker_version: Any = "", containerd_version: Any = "") -> list[dict]:
    """One pin per package: {name, version, spec}. The docker version pins the first package,
    the containerd version the containerd package (`containerd` or `containerd.io`); the others,
    and any package whose version is empty, are unpinned (`spec` is the bare name)."""
    pins = []
    for index, name in enumerate(packages or []):
        name = str(name)
        containerd = _version(containerd_version) if name in ("containerd", "containerd.io") else ""
        version = _version(docker_version) if index == 0 else containerd
        pins.append({"name": name, "version": version,
                     "spec": f"{name}={version}" if version else name})
    return pins


def dpkg_installed(stdout_lines: Any) -> dict[str, str]:
    """name -> version of the packages dpkg has cleanly installed (status `?i `, held or not),
    from `dpkg-query --show --showformat='${db:Status-Abbrev}|${Package}|${Version}\\n'`.
    Removed (`rc `), unpacked (`iU `), half-configured (`iF `) or reinstall-required (`iiR`)
    packages are left out, so apt runs for them."""
    installed = {}
    for line in stdout_lines or []:
        fields = str(line).split("|")
        if _CLEAN_INSTALL.match(fields[0]) and len(fields) >= 3:
            installed[fields[1]] = fields[2]
    return installed


def unmet_pins(pins: Any, installed: Any) -> list[str]:
    """Names of the pins dpkg does not already satisfy: not installed, or installed at another
    version than pinned (an unpinned package is satisfied by any installed version)."""
    unmet = []
    for pin in pins or []:
        name, version = pin["name"], pin.get("version") or ""
        if name not in installed or (
                version and not re.match(_pattern(version), str(installed[name]))):
            unmet.append(name)
    return unmet


_SEMVER = re.compile(r"v?(\d+\.\d+\.\d+)")


def binary_version(text: Any) -> str:
    """The first x.y.z in a `<binary> --version` answer (`containerd github.com/containerd/
    containerd 1.6.20~ds1 ...` -> `1.6.20`); "" when there is none, so a version test fails
    loudly instead of comparing garbage."""
    match = _SEMVER.search(_version(text))
    return match.group(1) if match else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kubemedic_apt_pins": apt_pins,
            "kubemedic_binary_version": binary_version,
            "kubemedic_dpkg_installed": dpkg_installed,
            "kubemedic_unmet_pins": unmet_pins,
        }
