"""The knowledge base of known error signatures (data in kubemedic/data/kb/*.yml) and its matcher.

Used by `kubemedic explain` on pasted text and by the doctor playbook (through the
`kubemedic_doctor_findings` filter) on the logs collected from every node. Pure Python, no
Ansible, so both share one implementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

SEVERITIES = ("critical", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
SOURCES = ("journal", "kernel", "container", "any")
# A line broken by a terminal or a mail client is tried joined with up to this many next lines.
JOIN_LINES = 3
MAX_EVIDENCE = 400

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_HEX_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{12,}(?![0-9a-fA-F])")
# Typographic quotes (left/right double and single, low-9, full-width) as pasted from chat tools.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
                         "\u201e": '"', "\uff02": '"'})
_SPACE = re.compile(r"\s+")


def normalise(line: str) -> str:
    """What every pattern runs on: no colours, one kind of quote, ids masked, single spaces."""
    line = _ANSI.sub("", line).translate(_QUOTES)
    line = line.replace('\\\\"', '"').replace('\\"', '"')
    line = _HEX_ID.sub("<id>", line)
    return _SPACE.sub(" ", line).strip()


@dataclass(frozen=True)
class Signature:
    id: str
    patterns: tuple[re.Pattern[str], ...]
    cause: str
    step: str | None
    severity: str
    priority: int = 50
    fix: str | None = None
    near: tuple[re.Pattern[str], ...] = ()
    near_lines: int = 20
    sources: tuple[str, ...] = ("any",)
    seeds: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    also: tuple[str, ...] = ()

    def applies_to(self, source: str) -> bool:
        """explain reads text of unknown origin ("any"): every signature applies."""
        return source == "any" or "any" in self.sources or source in self.sources


@dataclass
class Match:
    signature: Signature
    evidence: str         # the original text (first occurrence), trimmed
    line: int             # 1-based line number of the first occurrence
    count: int = 1
    source: str = "any"
    lines: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        sig = self.signature
        return {"id": sig.id, "severity": sig.severity, "cause": sig.cause, "step": sig.step,
                "fix": sig.fix, "evidence": self.evidence, "line": self.line,
                "count": self.count, "source": self.source, "seeds": list(sig.seeds)}


class KnowledgeBaseError(ValueError):
    """A KB data file is malformed (raised with the file and entry named)."""


def _compile(entry_id: str, where: str, patterns: Any) -> tuple[re.Pattern[str], ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        raise KnowledgeBaseError(f"{where}: {entry_id}: patterns must be a list of regexes")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(str(pattern), re.IGNORECASE))
        except re.error as exc:
            raise KnowledgeBaseError(f"{where}: {entry_id}: bad regex {pattern!r}: {exc}") from exc
    return tuple(compiled)


def parse_entries(entries: Any, where: str) -> list[Signature]:
    if not isinstance(entries, list):
        raise KnowledgeBaseError(f"{where}: must be a list of signatures")
    signatures = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("id"):
            raise KnowledgeBaseError(f"{where}: entry {index} has no id")
        sid = str(entry["id"])
        missing = [key for key in ("patterns", "cause", "severity", "examples") if key not in entry]
        if "step" not in entry:
            missing.append("step")
        if missing:
            raise KnowledgeBaseError(f"{where}: {sid}: missing {', '.join(missing)}")
        if entry["severity"] not in SEVERITIES:
            raise KnowledgeBaseError(f"{where}: {sid}: severity must be one of {SEVERITIES}")
        if not entry["step"] and not entry.get("fix"):
            raise KnowledgeBaseError(f"{where}: {sid}: needs a step or a fix")
        sources = tuple(entry.get("sources") or ["any"])
        if any(source not in SOURCES for source in sources):
            raise KnowledgeBaseError(f"{where}: {sid}: sources must be among {SOURCES}")
        examples = entry.get("examples") or []
        if not examples:
            raise KnowledgeBaseError(f"{where}: {sid}: needs at least one example line")
        signatures.append(Signature(
            id=sid, patterns=_compile(sid, where, entry["patterns"]),
            cause=_SPACE.sub(" ", str(entry["cause"])).strip(), step=entry["step"] or None,
            severity=entry["severity"], priority=int(entry.get("priority", 50)),
            fix=entry.get("fix"), near=_compile(sid, where, entry.get("near") or []),
            near_lines=int(entry.get("near_lines", 20)), sources=sources,
            seeds=tuple(str(s) for s in entry.get("seeds") or []),
            examples=tuple(str(e) for e in examples),
            also=tuple(entry.get("also") or [])))
    return signatures


@lru_cache(maxsize=1)
def load() -> tuple[Signature, ...]:
    """Every signature of every kubemedic/data/kb/*.yml file, ids unique."""
    folder = resources.files("kubemedic.data").joinpath("kb")
    signatures: list[Signature] = []
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if not item.name.endswith((".yml", ".yaml")):
            continue
        try:
            data = yaml.safe_load(item.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"kb/{item.name}: not valid YAML: {exc}") from exc
        signatures.extend(parse_entries(data, f"kb/{item.name}"))
    seen: set[str] = set()
    for signature in signatures:
        if signature.id in seen:
            raise KnowledgeBaseError(f"kb: duplicate signature id {signature.id!r}")
        seen.add(signature.id)
    return tuple(signatures)


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_EVIDENCE else text[:MAX_EVIDENCE - 1] + "…"


def match_text(text: str, source: str = "any",
               signatures: tuple[Signature, ...] | None = None) -> list[Match]:
    """Every signature found in `text`, best first (severity, priority, then earliest line)."""
    signatures = load() if signatures is None else signatures
    raw = text.splitlines()
    norm = [normalise(line) for line in raw]
    found: dict[str, Match] = {}
    for signature in signatures:
        if not signature.applies_to(source):
            continue
        next_free = 0  # lines already credited to an occurrence are not counted again
        for index, line in enumerate(norm):
            if index < next_free or not line:
                continue
            hit_end = _hit(signature, norm, index)
            if hit_end is None or (signature.near and not _near(signature, norm, index)):
                continue
            next_free = hit_end + 1
            current = found.get(signature.id)
            if current is None:
                evidence = _trim(" ".join(part.strip() for part in raw[index:hit_end + 1]))
                found[signature.id] = Match(signature, evidence, index + 1, source=source,
                                            lines=[index + 1])
            else:
                current.count += 1
                current.lines.append(index + 1)
    return rank(list(found.values()))


def _hit(signature: Signature, norm: list[str], index: int) -> int | None:
    """Index of the last line the match needed (index itself, or a later one when wrapped).

    A join only counts when the match starts on this line and runs past its end, so a line that
    matches on its own is never credited to the line before it.
    """
    if any(p.search(norm[index]) for p in signature.patterns):
        return index
    joined = norm[index]
    first_len = len(joined)
    for extra in range(1, JOIN_LINES + 1):
        if index + extra >= len(norm) or not norm[index + extra]:
            break
        # A wrapped line continues either directly (split inside a word) or after a space.
        for glue in (" ", ""):
            candidate = joined + glue + norm[index + extra]
            for pattern in signature.patterns:
                found = pattern.search(candidate)
                if found and found.start() < first_len < found.end():
                    return index + extra
        joined = joined + " " + norm[index + extra]
    return None


def _near(signature: Signature, norm: list[str], index: int) -> bool:
    low = max(0, index - signature.near_lines)
    window = "\n".join(norm[low:index + signature.near_lines + 1])
    return all(p.search(window) for p in signature.near)


def rank(matches: list[Match]) -> list[Match]:
    return sorted(matches, key=lambda m: (SEVERITY_RANK[m.signature.severity],
                                          -m.signature.priority, m.line))


def by_id(signature_id: str) -> Signature:
    for signature in load():
        if signature.id == signature_id:
            return signature
    raise KeyError(signature_id)
