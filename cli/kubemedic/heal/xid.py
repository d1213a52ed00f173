"""NVIDIA Xid events: parse them out of a kernel log, classify them with NVIDIA's catalog.

Formats seen in the wild (seed 003 and NVIDIA's driver):
    NVRM: Xid (0000:03:00): 62, Channel 00000001
    [Thu Jul  4 11:09:40 2024] NVRM: Xid (PCI:0000:03:00): 62, pid=1896, name=python, ...
and Xid 79 written without the token `Xid` (older drivers, probe failures), one or three lines:
    NVRM: GPU at 0000:01:00.0 has fallen off the bus.
    NVRM: GPU 0000:a1:00.0: GPU has fallen off the bus.
    NVRM: The NVIDIA GPU 0000:b3:00.0
    NVRM: (PCI ID: 10de:26b5) installed in this system has
    NVRM: fallen off the bus and is not responding to commands.

The catalog (kubemedic/data/xid-catalog.yml) gives every code its description, cause and action
class (app | reset | reboot | rma). It is the one source of an Xid's treatment: the default heal
policy selects rules by class (policy.py), and `explain`/doctor turn Xid lines into one finding
per code with the command that applies (`findings()`). Plain Python + PyYAML (the heal filter
plugin imports this inside ansible-playbook).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

XID_LINE = re.compile(r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}"
                      r"(?:\.[0-9A-Fa-f])?)\): (?P<code>\d+), ?(?P<detail>.*)$")
FALLEN_OFF = re.compile(r"fallen off the bus", re.IGNORECASE)
_PCI = re.compile(r"(?:PCI:)?(?P<pci>[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.[0-9A-Fa-f])?)")
# The three-line form names the GPU up to two lines before "fallen off the bus".
FALLEN_OFF_LOOKBACK = 2
# A "fallen off the bus" line within this many lines after an `Xid ...: 79` line is the same
# event worded twice by the driver (it prints both), not a second one.
SAME_EVENT_LINES = 5
FALLEN_OFF_CODE = 79

CATALOG_FILE = "xid-catalog.yml"
CLASSES = ("app", "reset", "reboot", "rma")  # mildest first: a node's worst class decides
# The KB signature (kb/nvidia.yml) whose matches explain/doctor expand into per-Xid findings.
KB_SIGNATURES = ("nvidia-xid",)

HEAL = "kubemedic heal -c {customer} --limit {host}"
COMMANDS = {
    # app: nothing to repair on the node; the dry run records the event and prints the notice.
    "app": HEAL + " --dry-run",
    "reset": HEAL,
    "reboot": HEAL,
    "rma": HEAL,
}
ACTIONS = {
    "app": "application fault: report it to the workload owner (the line names pid/process); "
           "no node action, the node stays in service",
    "reset": "GPU reset needed: heal cordons and drains the node and reboots it (GPU reset + "
             "driver reload), then uncordons it",
    "reboot": "node reboot needed: heal cordons, drains, reboots and uncordons the node",
    "rma": "hardware fault: heal cordons and drains the node; then call hardware support "
           "(attach `nvidia-bug-report.sh` output) for an RMA",
}
SEVERITY = {"app": "warning", "reset": "critical", "reboot": "critical", "rma": "critical"}


class CatalogError(ValueError):
    """kubemedic/data/xid-catalog.yml is malformed."""


@dataclass(frozen=True)
class XidInfo:
    code: int
    mnemonic: str
    description: str
    cause: str
    xid_class: str
    immediate: str
    investigatory: str


@dataclass(frozen=True)
class XidEvent:
    code: int
    pci: str
    detail: str
    line: str
    line_no: int = 0  # 1-based line of `text` where the event starts

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("line_no")
        return data


def parse(text: str) -> list[XidEvent]:
    """Every Xid event in `text`, in log order (the fallen-off-the-bus form as Xid 79)."""
    events: list[XidEvent] = []
    lines = text.splitlines()
    last_79 = -SAME_EVENT_LINES - 1
    for index, raw in enumerate(lines):
        match = XID_LINE.search(raw)
        if match:
            code = int(match["code"])
            events.append(XidEvent(code=code, pci=match["pci"], detail=match["detail"].strip(),
                                   line=raw.strip(), line_no=index + 1))
            if code == FALLEN_OFF_CODE:
                last_79 = index
            continue
        if not FALLEN_OFF.search(raw) or "NVRM" not in raw:
            continue
        if index - last_79 <= SAME_EVENT_LINES:
            continue
        start = index
        pci = _PCI.search(raw.split("fallen off", 1)[0])
        for back in range(1, FALLEN_OFF_LOOKBACK + 1):
            if pci or index - back < 0 or "NVRM" not in lines[index - back]:
                break
            pci = _PCI.search(lines[index - back])
            start = index - back
        evidence = " ".join(part.strip() for part in lines[start:index + 1])
        events.append(XidEvent(code=FALLEN_OFF_CODE, pci=pci["pci"] if pci else "",
                               detail="GPU has fallen off the bus", line=evidence,
                               line_no=start + 1))
        last_79 = index
    return events


def codes(events: list[XidEvent]) -> list[int]:
    """Distinct codes, first occurrence order."""
    seen: list[int] = []
    for event in events:
        if event.code not in seen:
            seen.append(event.code)
    return seen


@lru_cache(maxsize=1)
def catalog() -> dict[int, XidInfo]:
    """Xid code -> XidInfo, from kubemedic/data/xid-catalog.yml."""
    text = resources.files("kubemedic.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    entries = yaml.safe_load(text)
    if not isinstance(entries, list):
        raise CatalogError(f"{CATALOG_FILE}: must be a list of Xid entries")
    found: dict[int, XidInfo] = {}
    for index, entry in enumerate(entries):
        where = f"{CATALOG_FILE}: entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), int):
            raise CatalogError(f"{where}: needs an integer code")
        code = entry["code"]
        if code in found:
            raise CatalogError(f"{where}: Xid {code} listed twice")
        if entry.get("class") not in CLASSES:
            raise CatalogError(f"{where}: Xid {code}: class must be one of {CLASSES}")
        nvidia = entry.get("nvidia") or {}
        found[code] = XidInfo(code=code, mnemonic=str(entry.get("mnemonic", "")),
                              description=str(entry.get("description", "")),
                              cause=" ".join(str(entry.get("cause", "")).split()),
                              xid_class=entry["class"],
                              immediate=str(nvidia.get("immediate", "")),
                              investigatory=str(nvidia.get("investigatory", "")))
    return found


def xid_class(code: int) -> str | None:
    """The catalog's action class of `code` (None: not in NVIDIA's table)."""
    info = catalog().get(code)
    return info.xid_class if info else None


def codes_of_class(name: str) -> list[int]:
    return sorted(code for code, info in catalog().items() if info.xid_class == name)


def worst_class(event_codes: list[int]) -> str | None:
    """The most disruptive class among `event_codes` (None if none is in the catalog)."""
    classes = [c for c in (xid_class(code) for code in event_codes) if c]
    return max(classes, key=CLASSES.index) if classes else None


def findings(text: str, customer: str = "CUSTOMER", host: str = "HOST") -> list[dict[str, Any]]:
    """One finding per distinct Xid code in `text`, worst class first:
    {id, code, xid_class, severity, cause, action, evidence, line, count, command}.

    A code NVIDIA's table does not list gets class None, severity warning and the heal dry run
    (the default policy's global rule only notifies)."""
    by_code: dict[int, dict[str, Any]] = {}
    for event in parse(text):
        item = by_code.get(event.code)
        if item is not None:
            item["count"] += 1
            continue
        info = catalog().get(event.code)
        cls = info.xid_class if info else None
        what = (f"Xid {event.code} {info.mnemonic} ({info.description}): {info.cause}" if info
                else f"Xid {event.code} is not in NVIDIA's Xid catalog (kubemedic/data/"
                     f"{CATALOG_FILE}): look it up before acting")
        by_code[event.code] = {
            "id": f"nvidia-xid-{event.code}", "code": event.code, "xid_class": cls,
            "severity": SEVERITY.get(cls or "", "warning"), "cause": what,
            "action": ACTIONS.get(cls or "", "report: unknown Xid, no node action by default"),
            "evidence": event.line[:400], "line": event.line_no, "count": 1,
            "command": COMMANDS.get(cls or "app", COMMANDS["app"]).format(customer=customer,
                                                                          host=host)}
    return sorted(by_code.values(),
                  key=lambda f: (-CLASSES.index(f["xid_class"]) if f["xid_class"] else 1,
                                 f["line"]))
