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

The same file lists GPU faults NVIDIA reports without an Xid number (`event:` entries: a failed
RmInitAdapter, NV_ERR_RESET_REQUIRED, pending row remaps or page retirements, a remapping
failure), read from the kernel log's NVRM lines and from `nvidia-smi -q`. heal's scan hands both
to `scan()`: an event's `code` is then its name (a str) instead of an Xid number, and its class
comes from the catalog like an Xid's. Events with `application` strings (an uncorrectable ECC
error, an illegal memory access, as CUDA words them in an application's log) are read from the
pod logs heal's scan greps for those strings (`parse_application`); an application line adds no
event when the kernel log or nvidia-smi shows a fault of its `defers_to` list (the same fault,
worded more precisely by the driver).
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
# An application log line kept as evidence is cut here (a Python traceback can be one long line).
MAX_LINE = 400

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


# `nvidia-smi -q`: a GPU's header line, and `Name : value` field lines (anything else that is not
# blank is a section title; sections nest by indentation).
SMI_GPU = re.compile(r"^GPU (?P<pci>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")
SMI_FIELD = re.compile(r"^(?P<name>[^:]*?[^:\s])\s*:\s*(?P<value>.*?)\s*$")
EVENT_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


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
class EventInfo:
    """A GPU fault without an Xid number (an `event:` entry of the catalog)."""
    name: str
    description: str
    cause: str
    xid_class: str
    basis: str
    kb: str
    kernel: tuple[re.Pattern[str], ...] = ()
    smi_lines: tuple[re.Pattern[str], ...] = ()
    # (section, names, value), all lower-cased
    smi_fields: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    # fixed strings of an application's (CUDA's) wording, lower-cased; the Xids / events that
    # describe the same fault more precisely
    application: tuple[str, ...] = ()
    defers_to: tuple[int | str, ...] = ()


@dataclass(frozen=True)
class XidEvent:
    code: int | str  # an Xid number, or the name of a catalog event without one
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


def codes(found: list[XidEvent]) -> list[int | str]:
    """Distinct codes (Xid numbers, event names), first occurrence order."""
    seen: list[int | str] = []
    for event in found:
        if event.code not in seen:
            seen.append(event.code)
    return seen


@lru_cache(maxsize=1)
def _entries() -> list[Any]:
    text = resources.files("kubemedic.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    entries = yaml.safe_load(text)
    if not isinstance(entries, list):
        raise CatalogError(f"{CATALOG_FILE}: must be a list of Xid entries")
    return entries


@lru_cache(maxsize=1)
def catalog() -> dict[int, XidInfo]:
    """Xid code -> XidInfo, from kubemedic/data/xid-catalog.yml."""
    found: dict[int, XidInfo] = {}
    for index, entry in enumerate(_entries()):
        where = f"{CATALOG_FILE}: entry {index}"
        if isinstance(entry, dict) and "event" in entry and "code" not in entry:
            continue  # a fault without an Xid number: events()
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), int):
            raise CatalogError(f"{where}: needs an integer code (or an event name)")
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


def _regexes(raw: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(r, str) for r in raw):
        raise CatalogError(f"{where}: must be a non-empty list of regexes")
    try:
        return tuple(re.compile(r) for r in raw)
    except re.error as exc:
        raise CatalogError(f"{where}: {exc}") from None


@lru_cache(maxsize=1)
def events() -> dict[str, EventInfo]:
    """Event name -> EventInfo: the catalog's GPU faults without an Xid number."""
    found: dict[str, EventInfo] = {}
    for index, entry in enumerate(_entries()):
        if not isinstance(entry, dict) or "event" not in entry or "code" in entry:
            continue
        name = entry["event"]
        where = f"{CATALOG_FILE}: entry {index} (event {name})"
        if not isinstance(name, str) or not EVENT_NAME.match(name):
            raise CatalogError(f"{where}: event must be a lower-case name (a-z, 0-9, -)")
        if name in found:
            raise CatalogError(f"{where}: listed twice")
        if entry.get("class") not in CLASSES:
            raise CatalogError(f"{where}: class must be one of {CLASSES}")
        unknown = set(entry) - {"event", "description", "kernel", "nvidia_smi", "application",
                                "defers_to", "class", "basis", "cause", "kb"}
        if unknown:
            raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        for key in ("description", "basis", "cause", "kb"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise CatalogError(f"{where}: needs {key}")
        kernel = _regexes(entry["kernel"], f"{where}: kernel") if "kernel" in entry else ()
        if any("NVRM" not in p.pattern for p in kernel):
            raise CatalogError(f"{where}: kernel: every regex must contain NVRM (heal's scan "
                               "keeps the NVRM lines only)")
        smi = entry.get("nvidia_smi") or {}
        if not isinstance(smi, dict) or set(smi) - {"lines", "fields"}:
            raise CatalogError(f"{where}: nvidia_smi: a mapping of lines and/or fields")
        lines = _regexes(smi["lines"], f"{where}: nvidia_smi.lines") if "lines" in smi else ()
        fields = []
        for pos, field in enumerate(smi.get("fields") or []):
            names = field.get("name") if isinstance(field, dict) else None
            names = [names] if isinstance(names, str) else names
            if (not isinstance(field, dict) or set(field) != {"section", "name", "value"}
                    or not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                    or not isinstance(field["section"], str) or not isinstance(field["value"], str)):
                raise CatalogError(f"{where}: nvidia_smi.fields[{pos}]: needs section, name (one "
                                   "or a list) and value, all strings")
            fields.append((field["section"].lower(), tuple(n.lower() for n in names),
                           field["value"].lower()))
        application = entry.get("application", [])
        if (not isinstance(application, list)
                or not all(isinstance(s, str) and len(s.strip()) >= 8 for s in application)):
            raise CatalogError(f"{where}: application: a list of fixed strings (8+ characters)")
        defers_to = entry.get("defers_to", [])
        if not isinstance(defers_to, list) or not all(
                (isinstance(c, int) and not isinstance(c, bool)) or isinstance(c, str)
                for c in defers_to):
            raise CatalogError(f"{where}: defers_to: a list of Xid numbers and event names")
        if defers_to and not application:
            raise CatalogError(f"{where}: defers_to needs application strings")
        if not (kernel or lines or fields or application):
            raise CatalogError(f"{where}: needs kernel regexes, nvidia_smi lines/fields or "
                               "application strings")
        found[name] = EventInfo(name=name, description=entry["description"].strip(),
                                cause=" ".join(entry["cause"].split()), xid_class=entry["class"],
                                basis=" ".join(entry["basis"].split()), kb=entry["kb"],
                                kernel=kernel, smi_lines=lines, smi_fields=tuple(fields),
                                application=tuple(s.lower() for s in application),
                                defers_to=tuple(defers_to))
    for info in found.values():
        unknown = [c for c in info.defers_to
                   if (c not in found if isinstance(c, str) else c not in catalog())]
        if unknown:
            raise CatalogError(f"{CATALOG_FILE}: event {info.name}: defers_to: "
                               f"{', '.join(map(str, unknown))} is not an Xid or event of the catalog")
    return found


def xid_class(code: int | str) -> str | None:
    """The catalog's action class of `code`, an Xid number or an event name (None: unknown)."""
    info: XidInfo | EventInfo | None = (events().get(code) if isinstance(code, str)
                                        else catalog().get(code))
    return info.xid_class if info else None


def describe(code: int | str) -> str:
    """`Xid 62`, or `row-remap-pending (no Xid)`: how decisions name what triggered them."""
    return f"{code} (no Xid)" if isinstance(code, str) else f"Xid {code}"


def _event(name: str, raw: str, index: int, pci: str = "") -> XidEvent:
    if not pci:
        found = _PCI.search(raw)
        pci = found["pci"] if found else ""
    return XidEvent(code=name, pci=pci, detail=events()[name].description, line=raw.strip(),
                    line_no=index + 1)


def parse_faults(text: str) -> list[XidEvent]:
    """The catalog's faults without an Xid number in kernel-log `text` (one event per line)."""
    found: list[XidEvent] = []
    for index, raw in enumerate(text.splitlines()):
        if "NVRM" not in raw or XID_LINE.search(raw):
            continue  # an Xid line is parse()'s
        for info in events().values():
            match = next((m for m in (p.search(raw) for p in info.kernel) if m), None)
            if match:
                pci = match.groupdict().get("pci") or ""
                found.append(_event(info.name, raw, index, pci))
                break
    return found


def parse_smi(text: str) -> list[XidEvent]:
    """The catalog's faults in `nvidia-smi -q` output (fields under their section, per GPU) and
    in nvidia-smi's messages (`lines`)."""
    found: list[XidEvent] = []
    gpu = ""
    stack: list[tuple[int, str]] = []  # (indent, lower-cased section title)
    for index, raw in enumerate(text.splitlines()):
        line = raw.rstrip()
        if not line.strip():
            continue
        for info in events().values():
            if any(p.search(line) for p in info.smi_lines):
                found.append(_event(info.name, line, index))
                break
        indent = len(line) - len(line.lstrip())
        header = SMI_GPU.match(line.strip())
        if header:
            gpu, stack = header["pci"], []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        field = SMI_FIELD.match(line.strip())
        if field is None:
            stack.append((indent, " ".join(line.split()).lower()))
            continue
        if not stack:
            continue
        section, name = stack[-1][1], " ".join(field["name"].split()).lower()
        value = field["value"].lower()
        for info in events().values():
            if any(section == s and name in names and value == v
                   for s, names, v in info.smi_fields):
                found.append(_event(info.name, line, index, gpu))
                break
    return found


def application_strings() -> list[str]:
    """The fixed strings heal's scan greps pod logs for (`grep -F -i`), from the catalog."""
    return [s for info in events().values() for s in info.application]


def parse_application(text: str) -> list[XidEvent]:
    """The catalog's faults in application (container) log `text`, one event per line."""
    found: list[XidEvent] = []
    for index, raw in enumerate(text.splitlines()):
        lowered = raw.lower()
        for info in events().values():
            if any(s in lowered for s in info.application):
                found.append(_event(info.name, raw[:MAX_LINE], index))
                break
    return found


def scan(kernel_text: str, smi_text: str = "", app_text: str = "") -> list[XidEvent]:
    """What heal acts on: the Xid events and the faults without an Xid in the kernel log, then
    the faults nvidia-smi reports, then the faults applications report that neither of them
    describes more precisely (an event's `defers_to`)."""
    kernel = sorted(parse(kernel_text) + parse_faults(kernel_text), key=lambda e: e.line_no)
    driver = kernel + parse_smi(smi_text)
    seen = set(codes(driver))
    app = [e for e in parse_application(app_text) if not seen & set(events()[e.code].defers_to)]
    return driver + app


def codes_of_class(name: str) -> list[int]:
    return sorted(code for code, info in catalog().items() if info.xid_class == name)


def worst_class(event_codes: list[int | str]) -> str | None:
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
