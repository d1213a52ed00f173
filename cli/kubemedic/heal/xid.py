"""Parse NVIDIA Xid lines out of a kernel log.

Formats seen in the wild (seed 003 and NVIDIA's driver):
    NVRM: Xid (0000:03:00): 62, Channel 00000001
    [Thu Jul  4 11:09:40 2024] NVRM: Xid (PCI:0000:03:00): 62, pid=1896, name=python, ...
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

XID_LINE = re.compile(r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}"
                      r"(?:\.[0-9A-Fa-f])?)\): (?P<code>\d+), ?(?P<detail>.*)$")


@dataclass(frozen=True)
class XidEvent:
    code: int
    pci: str
    detail: str
    line: str

    def to_json(self) -> dict:
        return asdict(self)


def parse(text: str) -> list[XidEvent]:
    """Every Xid event in `text`, in log order."""
    events = []
    for raw in text.splitlines():
        match = XID_LINE.search(raw)
        if match:
            events.append(XidEvent(code=int(match["code"]), pci=match["pci"],
                                   detail=match["detail"].strip(), line=raw.strip()))
    return events


def codes(events: list[XidEvent]) -> list[int]:
    """Distinct codes, first occurrence order."""
    seen: list[int] = []
    for event in events:
        if event.code not in seen:
            seen.append(event.code)
    return seen
