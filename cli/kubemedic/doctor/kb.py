"""The knowledge base of known error signatures (data in kubemedic/data/kb/*.yml) and its matcher.

Used by `kubemedic explain` on pasted text or files and by the doctor playbook (through the
`kubemedic_doctor_findings` filter) on the logs collected from every node. Pure Python, no
Ansible, so both share this one implementation.

How a log is matched (docs/doctor.md, "The matcher"):

1. **Prefilter, on bytes.** Every pattern's required literal pieces (words of 4+ characters that
   any match must contain, found by parsing the regex) are combined into one alternation. The
   input is read in blocks (bounded memory, any size), lower-cased as ASCII bytes (offsets stay
   put) and searched for that alternation in one C-level pass: google-re2 when it is installed
   (a DFA, hundreds of MB/s), else Python's `re` on a prefix-trie of the literals (slower, same
   answers). Only lines holding a literal go further.
2. **Full patterns, on normalised candidate lines.** A candidate line is decoded (UTF-8,
   undecodable bytes replaced), normalised (`normalise`) and tried against the patterns whose
   literals it holds; a line broken by wrapping is tried joined with its neighbours.
3. **Context and score.** A hit scores its pattern's `weight`; each `context` regex found within
   `near_lines` around it adds its boost; `near` regexes must all be there; an `unless` regex on
   the hit's own line vetoes it. The signature's confidence is its best occurrence's score
   (capped at 1). Matches are ranked by confidence plus a small severity and priority bonus
   (`Match.rank_score`: the critical, more specific root cause first among near-equals).
4. **Convincing or not.** A match below `MIN_CONFIDENCE` is reported as weak: `explain` says
   "no known cause" when nothing is convincing, and the evaluation counts only convincing
   matches as a named repair.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from kubemedic import inputs

try:  # the fast multi-pattern engine; optional (pyproject extra `speed`)
    import re2 as _re2
except ImportError:  # pragma: no cover - exercised by the fallback test via ENGINE switch
    _re2 = None

try:
    import re._parser as _sre_parse  # Python 3.11+
    from re._constants import BRANCH, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT, SUBPATTERN
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    from sre_constants import BRANCH, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, SUBPATTERN  # type: ignore
    POSSESSIVE_REPEAT = MAX_REPEAT

SEVERITIES = ("critical", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
SEVERITY_BONUS = {"critical": 0.1, "warning": 0.05, "info": 0.0}
SOURCES = ("journal", "kernel", "container", "any")
# Bootstrap tags a signature may name as its repair (`repair: bootstrap:<tag>`); the labels of
# the real-log corpus (tests/data/logs) use the same names.
BOOTSTRAP_TAGS = ("swap", "ntp", "container-runtime", "nvidia-runtime", "ascend-runtime", "nfs-client",
                  "ascend-driver")
OTHER_REPAIRS = ("heal", "hardware-support")
BOOTSTRAP_FIX = "kubemedic bootstrap -c {customer} --tags {tag} --limit {host}"
# A line broken by a terminal or a mail client is tried joined with up to this many next lines.
JOIN_LINES = 3
MAX_EVIDENCE = 400
DEFAULT_WEIGHT = 0.8
DEFAULT_BOOST = 0.15
# Below this a match is reported as weak, never as the answer.
MIN_CONFIDENCE = 0.5
# Streaming: bytes read per block, the longest line matched whole (longer ones are cut there;
# binary data without newlines stays bounded), occurrences' line numbers kept per signature.
BLOCK_BYTES = 4 << 20
MAX_LINE_BYTES = 64 << 10
MAX_LINES_KEPT = 100
# Prefilter literals: lower-case pieces of these characters (normalisation never changes them).
MIN_LITERAL = 3
LITERALS_PER_PATTERN = 1
MIN_STRENGTH = 3.5
PHRASE_BONUS = 1.5
_PIECE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.:/=-")
# Words in nearly every runtime log line: a poor prefilter literal when a pattern has a better one.
_COMMON_WORDS = """
    error errors failed failure kubelet docker dockerd containerd level warning info debug
    connection image images container containers service server unable cannot start started
    running kernel systemd process exited status with from that this time create created desc
    code rpc unknown node pods default found exit while file such directory open many will
    after could because down link device does have been true false message reason type name
    registry volume volumes probe probetype prober unix socket mount namespace event events
    error: code: pod= msg= level= time= k8s.io successfully space runtime response daemon
    result already exists refused task
"""
_COMMON = frozenset(_COMMON_WORDS.split())
# A line that starts like a new log record is never the continuation of a wrapped line.
_RECORD_START = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:|\d{4}-\d\d-\d\d[T ]|\d{4}/\d\d/\d\d |\[ *\d+\.\d+\]|"
    r"\[[A-Z][a-z]{2} |[IWEF]\d{4} \d\d:|time=\"|level=|[A-Z]{4}\[\d{4}|<\d+>)")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_HEX_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{12,}(?![0-9a-fA-F])")
# Typographic quotes (left/right double and single, low-9, full-width) as pasted from chat tools.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
                         "\u201e": '"', "\uff02": '"'})
_SPACE = re.compile(r"\s+")
# `\n`, `\t`, `\r` written out (a log inside a JSON string); not a `\\n` (an escaped backslash)
_ESCAPED_BLANK = re.compile(r"(?<!\\)\\[ntr]")
# Leading quote marks of a mail reply or a markdown blockquote, possibly nested ("> > ").
_QUOTE_MARK = re.compile(r"^(?:> ?)+")
_TAGS_IN_FIX = re.compile(r"kubemedic bootstrap\b.*--tags[ =]([\w-]+)")


def normalise(line: str) -> str:
    """What every pattern runs on: no colours, one kind of quote, ids masked, single spaces.

    Syslog's `#011`/`#012` escapes (tab, newline) and the `\\n`/`\\t` of a log embedded in JSON
    (an Ansible `stderr`, a `kubectl -o json` message) count as spaces; HTML entities of a copied
    web page are decoded; a mail or markdown quote (`> `) and inline-code backticks around the
    line are dropped, so that anchored patterns see the log line itself.
    """
    line = _ANSI.sub("", line).translate(_QUOTES)
    if "&" in line and ";" in line:
        line = html.unescape(line)
    line = line.replace('\\\\"', '"').replace('\\"', '"').replace("#011", " ").replace("#012", " ")
    line = _ESCAPED_BLANK.sub(" ", line)
    line = _HEX_ID.sub("<id>", line)
    line = _QUOTE_MARK.sub("", _SPACE.sub(" ", line).strip())
    return line.strip("`").strip()


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    weight: float = DEFAULT_WEIGHT
    literals: tuple[str, ...] = ()   # prefilter: a match's line holds at least one of them


@dataclass(frozen=True)
class Context:
    regex: re.Pattern[str]
    boost: float = DEFAULT_BOOST
    # `same: GROUP`: counts only where the text of the regex's named group GROUP (an interface,
    # a device) is a word of the hit's own line: eth1 gaining carrier says nothing of eth0.
    same: str | None = None
    # `after: true`: counts only on the lines after the hit (a link that came back).
    after: bool = False

    def found(self, window: str, after: str, hit: str) -> bool:
        text = after if self.after else window
        if self.same is None:
            return self.regex.search(text) is not None
        return any(re.search(rf"(?<![\w.-]){re.escape(m.group(self.same))}(?![\w-]|\.\w)", hit)
                   for m in self.regex.finditer(text) if m.group(self.same))


@dataclass(frozen=True)
class Signature:
    id: str
    rules: tuple[Pattern, ...]
    cause: str
    step: str | None
    severity: str
    priority: int = 50
    fix: str | None = None
    repair: str | None = None        # label: recovery step, bootstrap:<tag>, heal, ...
    near: tuple[re.Pattern[str], ...] = ()
    near_lines: int = 20
    context: tuple[Context, ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()
    sources: tuple[str, ...] = ("any",)
    seeds: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    where: str = ""

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(rule.regex for rule in self.rules)

    @property
    def label(self) -> str:
        """What this signature names as the repair, in the corpus' label vocabulary."""
        if self.step:
            return self.step
        if self.repair:
            return self.repair.removeprefix("bootstrap:")
        tag = _TAGS_IN_FIX.search(self.fix or "")
        if tag:
            return tag.group(1).replace("_", "-")
        if (self.fix or "").startswith("kubemedic heal"):
            return "heal"
        return "manual"

    def command(self, customer: str = "CUSTOMER", host: str = "HOST") -> str:
        if self.step:
            return f"kubemedic recover {self.step} -c {customer} --limit {host}"
        return (self.fix or "").format(customer=customer, host=host)

    def applies_to(self, source: str) -> bool:
        """explain reads text of unknown origin ("any"): every signature applies."""
        return source == "any" or "any" in self.sources or source in self.sources


@dataclass
class Match:
    signature: Signature
    evidence: str         # the original text (first convincing occurrence), trimmed
    line: int             # 1-based line number of that occurrence
    confidence: float = 0.0
    count: int = 1
    source: str = "any"
    lines: list[int] = field(default_factory=list)

    @property
    def convincing(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE

    @property
    def rank_score(self) -> float:
        """Confidence, nudged by severity and priority: between two matches of about the same
        confidence the critical, more specific (root) cause comes first."""
        sig = self.signature
        return self.confidence + SEVERITY_BONUS[sig.severity] + sig.priority / 1000

    def to_json(self) -> dict[str, Any]:
        sig = self.signature
        return {"id": sig.id, "severity": sig.severity, "cause": sig.cause, "step": sig.step,
                "fix": sig.fix, "repair": sig.label, "confidence": round(self.confidence, 2),
                "convincing": self.convincing, "evidence": self.evidence, "line": self.line,
                "count": self.count, "source": self.source, "seeds": list(sig.seeds)}


class KnowledgeBaseError(ValueError):
    """A KB data file is malformed (raised with the file and entry named)."""


# ---------------------------------------------------------------------------------------------
# Loading

def _regex(sid: str, where: str, pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern), re.IGNORECASE)
    except re.error as exc:
        raise KnowledgeBaseError(f"{where}: {sid}: bad regex {pattern!r}: {exc}") from exc


def _as_list(sid: str, where: str, key: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if not isinstance(value, list):
        raise KnowledgeBaseError(f"{where}: {sid}: {key} must be a list")
    return value


def _weighted(sid: str, where: str, key: str, item: Any, default: float
              ) -> tuple[re.Pattern[str], float]:
    """A plain regex string, or {re: REGEX, weight|boost: NUMBER}."""
    number_key = "weight" if key == "patterns" else "boost"
    if isinstance(item, dict):
        if "re" not in item or set(item) - {"re", number_key}:
            raise KnowledgeBaseError(f"{where}: {sid}: each of {key} is a regex or "
                                     f"{{re: REGEX, {number_key}: NUMBER}}")
        number = item.get(number_key, default)
        low = 0 if key == "patterns" else -1   # a context may also lower the score
        if not isinstance(number, (int, float)) or not low <= number <= 1:
            raise KnowledgeBaseError(f"{where}: {sid}: {number_key} must be a number in "
                                     f"{low}..1")
        return _regex(sid, where, item["re"]), float(number)
    return _regex(sid, where, item), default


def _context(sid: str, where: str, item: Any) -> Context:
    """A context rule: a regex, or {re, boost, same: GROUP, after: BOOL} (see Context)."""
    if not isinstance(item, dict):
        return Context(*_weighted(sid, where, "context", item, DEFAULT_BOOST))
    extra = {key: item[key] for key in ("same", "after") if key in item}
    regex, boost = _weighted(sid, where, "context",
                             {k: v for k, v in item.items() if k not in extra}, DEFAULT_BOOST)
    same, after = extra.get("same"), extra.get("after", False)
    if same is not None and same not in regex.groupindex:
        raise KnowledgeBaseError(f"{where}: {sid}: context same: {same}: the regex "
                                 f"{regex.pattern!r} has no group (?P<{same}>...)")
    if not isinstance(after, bool):
        raise KnowledgeBaseError(f"{where}: {sid}: context after: must be true or false")
    return Context(regex, boost, same=same, after=after)


def _check_repair(sid: str, where: str, repair: Any) -> str | None:
    if repair is None:
        return None
    repair = str(repair)
    tag = repair.removeprefix("bootstrap:")
    if repair in OTHER_REPAIRS or (repair.startswith("bootstrap:") and tag in BOOTSTRAP_TAGS):
        return repair
    choices = [f"bootstrap:{tag}" for tag in BOOTSTRAP_TAGS] + list(OTHER_REPAIRS)
    raise KnowledgeBaseError(f"{where}: {sid}: repair must be one of {', '.join(choices)}")


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
        repair = _check_repair(sid, where, entry.get("repair"))
        fix = entry.get("fix")
        if not fix and repair and repair.startswith("bootstrap:"):
            fix = BOOTSTRAP_FIX.replace("{tag}", repair.removeprefix("bootstrap:"))
        if not entry["step"] and not fix:
            raise KnowledgeBaseError(f"{where}: {sid}: needs a step or a fix")
        sources = tuple(entry.get("sources") or ["any"])
        if any(source not in SOURCES for source in sources):
            raise KnowledgeBaseError(f"{where}: {sid}: sources must be among {SOURCES}")
        examples = entry.get("examples") or []
        if not examples:
            raise KnowledgeBaseError(f"{where}: {sid}: needs at least one example line")
        default = entry.get("weight", DEFAULT_WEIGHT)
        if not isinstance(default, (int, float)) or not 0 <= default <= 1:
            raise KnowledgeBaseError(f"{where}: {sid}: weight must be a number in 0..1")
        rules = []
        for item in _as_list(sid, where, "patterns", entry["patterns"]):
            regex, weight = _weighted(sid, where, "patterns", item, float(default))
            rules.append(Pattern(regex, weight, literals_of(regex)))
        if not rules:
            raise KnowledgeBaseError(f"{where}: {sid}: patterns must be a list of regexes")
        context = tuple(_context(sid, where, item)
                        for item in _as_list(sid, where, "context", entry.get("context")))
        signatures.append(Signature(
            id=sid, rules=tuple(rules),
            cause=_SPACE.sub(" ", str(entry["cause"])).strip(), step=entry["step"] or None,
            severity=entry["severity"], priority=int(entry.get("priority", 50)),
            fix=fix, repair=repair,
            near=tuple(_regex(sid, where, p) for p in _as_list(sid, where, "near",
                                                               entry.get("near"))),
            near_lines=int(entry.get("near_lines", 20)), context=context,
            unless=tuple(_regex(sid, where, p) for p in _as_list(sid, where, "unless",
                                                                 entry.get("unless"))),
            sources=sources, seeds=tuple(str(s) for s in entry.get("seeds") or []),
            examples=tuple(str(e) for e in examples),
            also=tuple(entry.get("also") or []), where=where))
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


def by_id(signature_id: str) -> Signature:
    for signature in load():
        if signature.id == signature_id:
            return signature
    raise KeyError(signature_id)


# ---------------------------------------------------------------------------------------------
# Prefilter literals

def _pieces(chars: list[int]) -> list[str]:
    """Split a run of literal characters into prefilter-safe lower-case pieces.

    A piece may hold single spaces (the prefilter lets any run of blanks stand for one), never
    quotes, brackets or other characters that normalisation rewrites.
    """
    out, word = [], []
    for code in chars:
        char = chr(code).lower()
        if char in _PIECE_CHARS or char == " ":
            word.append(char)
        else:
            out.append("".join(word))
            word = []
    out.append("".join(word))
    pieces = (" ".join("".join(piece).split()) for piece in out)
    return [piece for piece in pieces if len(piece) >= MIN_LITERAL]


def _facts(items: Any) -> list[frozenset[str]]:
    """Sets of literals such that every match of `items` contains one literal of each set."""
    facts: list[frozenset[str]] = []
    run: list[int] = []

    def flush() -> None:
        facts.extend(frozenset([piece]) for piece in _pieces(run))
        run.clear()

    for op, arg in items:
        if op is LITERAL:
            run.append(arg)
            continue
        flush()
        if op is SUBPATTERN:
            facts.extend(_facts(arg[-1]))
        elif op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT) and arg[0] >= 1:
            facts.extend(_facts(arg[2]))
        elif op is BRANCH:
            chosen = []
            for branch in arg[1]:
                options = _facts(branch)
                if not options:
                    chosen = []
                    break
                chosen.append(max(options, key=_strength))
            if chosen:
                facts.append(frozenset().union(*chosen))
        elif op is IN and len(arg) == 1 and arg[0][0] is LITERAL:
            run.append(arg[0][1])
    flush()
    return facts


def literals_of(regex: re.Pattern[str]) -> tuple[str, ...]:
    """Prefilter literals of one pattern: a line it matches holds at least one of them.

    The longest required piece counts (`LITERALS_PER_PATTERN`), never a word found in nearly
    every log line when the pattern has a better one. Empty: the pattern has no usable
    literal and is tried on every line (slow; tests/unit/test_kb.py refuses that for the KB).
    """
    facts = _facts(_sre_parse.parse(regex.pattern, regex.flags))
    good = sorted((fact for fact in facts if _strength(fact) >= MIN_STRENGTH),
                  key=lambda fact: -_strength(fact))[:LITERALS_PER_PATTERN]
    chosen = good or sorted(facts, key=lambda fact: -_strength(fact))[:1]
    return tuple(sorted(set().union(*chosen))) if chosen else ()


def _strength(fact: frozenset[str]) -> float:
    """How rare a literal set is likely to be in a log: its weakest member's specific length
    (words of nearly every log line count 30 %, words under 4 characters not at all)."""
    def one(piece: str) -> float:
        words = [word for word in piece.split() if len(word) >= MIN_LITERAL + 1]
        # a phrase is rarer than its words: each further word adds PHRASE_BONUS
        return sum(len(word) * (0.3 if word.strip(":/=.-_") in _COMMON else 1.0)
                   for word in words) + PHRASE_BONUS * max(0, len(words) - 1)
    return min(one(piece) for piece in fact)


def _trie(words: Iterable[str]) -> str:
    """One regex alternation of `words`, factored by common prefix (fast for Python's re)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alternatives = [re.escape(char) + build(child) for char, child in sorted(node.items())
                        if char]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    # a blank in a literal stands for any run of blanks (normalisation collapses them), or none
    # (a line wrapped at that blank, seen with its newline removed)
    return build(root).replace("\\ ", "[ \\t]*")


ENGINE = "re2" if _re2 is not None else "re"


class Prefilter:
    """One pass over lower-cased bytes finding every candidate literal (re2, else re)."""

    def __init__(self, literals: Iterable[str], engine: str | None = None) -> None:
        words = sorted(set(literals))
        self.engine = engine or ENGINE
        source = _trie(words).encode()
        if not words:
            self.regex = None
        elif self.engine == "re2":
            options = _re2.Options()
            options.max_mem = 64 << 20
            self.regex = _re2.compile(source, options)
        else:
            self.regex = re.compile(source)

        # Per candidate line (short): every literal, overlapping ones included (lookahead), and
        # the literals contained in each one found.
        self.line_regex = re.compile(b"(?=(" + source + b"))") if words else None
        # what a match found -> the literals it holds (keyed without blanks: see _trie)
        self.within: dict[bytes, set[str]] = {}
        for word in words:
            self.within.setdefault(_key(word.encode()), set()).update(
                other for other in words if other in word)

    def hits(self, data: bytes) -> Iterator[tuple[int, bytes | None]]:
        """Every literal occurrence in `data`, in order: (its position in `data`, the literal
        when a line end breaks it, else None).

        One pass over `data` without its newlines: a literal broken where a terminal or a mail
        client wrapped the line (inside a word, or at a blank: a literal's blanks may be absent
        in the prefilter) is found as well as a whole one.
        """
        if self.regex is None:
            return
        joined = data.replace(b"\n", b"")
        original = joined_at = 0   # a position in `data` and the same character in `joined`
        for m in self.regex.finditer(joined):
            start = _unjoin(data, original, joined_at, m.start())
            last = _unjoin(data, start, m.start(), m.end() - 1)
            original, joined_at = last, m.end() - 1
            yield start, (m.group() if last - start != m.end() - 1 - m.start() else None)

    def literals_in(self, line_low: bytes) -> set[str]:
        if self.line_regex is None:
            return set()
        found: set[str] = set()
        for m in self.line_regex.finditer(line_low):
            found |= self.within[_key(m.group(1))]
        return found


# ---------------------------------------------------------------------------------------------
# Matching

def _key(found: bytes) -> bytes:
    return found.replace(b" ", b"").replace(b"\t", b"")


def _unjoin(data: bytes, original: int, joined_at: int, target: int) -> int:
    """Position in `data` of the character at `target` in data-without-newlines, walking forward
    from a known pair (original, joined_at); C-level counting only."""
    base = original + (target - joined_at)
    position = base
    while True:
        found = base + data.count(b"\n", original, position + 1)
        if found == position:
            return position
        position = found


class _Compiled:
    """The signatures that apply to one source, with their prefilter."""

    def __init__(self, signatures: tuple[Signature, ...], source: str, engine: str | None) -> None:
        self.signatures = [s for s in signatures if s.applies_to(source)]
        self.unfiltered: list[tuple[int, int]] = []
        self.by_literal: dict[str, list[tuple[int, int]]] = {}
        for si, sig in enumerate(self.signatures):
            for ri, rule in enumerate(sig.rules):
                if not rule.literals:
                    self.unfiltered.append((si, ri))
                for literal in rule.literals:
                    self.by_literal.setdefault(literal, []).append((si, ri))
        self.prefilter = Prefilter(self.by_literal, engine)
        self.window = max([JOIN_LINES] + [s.near_lines for s in self.signatures
                                          if s.near or s.context])


@lru_cache(maxsize=16)
def _compiled(signatures: tuple[Signature, ...], source: str, engine: str | None) -> _Compiled:
    return _Compiled(signatures, source, engine)


class _Lines:
    """Lines of the current window (raw bytes), decoded and normalised on demand."""

    def __init__(self, lines: list[bytes]) -> None:
        self.raw = lines
        self._text: dict[int, str] = {}
        self._norm: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.raw)

    def text(self, index: int) -> str:
        if index not in self._text:
            self._text[index] = self.raw[index][:MAX_LINE_BYTES].decode("utf-8", "replace")
        return self._text[index]

    def starts_record(self, index: int) -> bool:
        return bool(_RECORD_START.match(self.text(index)))

    def norm(self, index: int) -> str:
        if index not in self._norm:
            self._norm[index] = normalise(self.text(index))
        return self._norm[index]


class Scanner:
    """Streaming matcher: feed() bytes in any pieces, then result(). Memory stays bounded."""

    def __init__(self, source: str = "any", signatures: tuple[Signature, ...] | None = None,
                 engine: str | None = None) -> None:
        self.source = source
        self.compiled = _compiled(load() if signatures is None else signatures, source, engine)
        self.found: dict[str, Match] = {}
        self.next_free: dict[str, int] = {}   # absolute line index credited up to, per signature
        self.pending = b""                    # bytes not yet scanned (incomplete or tail lines)
        self.before: list[bytes] = []         # already scanned lines kept as context
        self.first_line = 0                   # absolute index of before[0]
        self.lines = 0                        # complete lines seen
        self.bytes = 0

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        self.pending += data
        if len(self.pending) >= BLOCK_BYTES:
            self._scan(final=False)

    def result(self) -> list[Match]:
        self._scan(final=True)
        return rank(list(self.found.values()))

    def _scan(self, final: bool) -> None:
        data = self.pending
        cut = len(data) if final else data.rfind(b"\n") + 1
        forced = not final and cut == 0 and len(data) > MAX_LINE_BYTES
        if forced:
            cut = len(data)   # one endless line (binary data): scan what we have
        body, self.pending = data[:cut], data[cut:]
        new = body.split(b"\n")
        if body.endswith(b"\n"):
            new.pop()
        if not new:
            return
        keep = self.compiled.window
        # Lines at the end are held back (scanned with the next block) so that they have their
        # following context; unless this is the end.
        hold = 0 if final or forced else min(keep, len(new) - 1)
        if hold:
            self.pending = b"\n".join(new[-hold:]) + b"\n" + self.pending
            new = new[:-hold]
            if not new:
                return
        lines = _Lines(self.before + new)
        offset = len(self.before)             # index in `lines` of the first new line
        base = self.first_line                # absolute index of lines[0]
        self._candidates(lines, offset, base)
        self.lines = base + len(lines)
        self.before = [line[:MAX_LINE_BYTES] for line in lines.raw[-keep:]]
        self.first_line = base + len(lines) - len(self.before)

    def _candidates(self, lines: _Lines, offset: int, base: int) -> None:
        compiled = self.compiled
        new_block = b"\n".join(lines.raw[offset:])
        lowered = new_block.lower()
        hits: list[int] = []
        broken: dict[int, set[str]] = {}   # line -> literals that start there, broken by wrapping
        index, counted = offset, 0
        for position, literal in compiled.prefilter.hits(lowered):
            index += lowered.count(b"\n", counted, position)
            counted = position
            if not hits or hits[-1] != index:
                hits.append(index)
            if literal is not None:
                broken.setdefault(index, set()).update(compiled.prefilter.within[_key(literal)])
        if compiled.unfiltered:
            hits = list(range(offset, len(lines)))
        for index in hits:
            line_low = lines.raw[index][:MAX_LINE_BYTES].lower()
            literals = compiled.prefilter.literals_in(line_low) | broken.get(index, set())
            rules = {pair for literal in literals for pair in compiled.by_literal[literal]}
            rules.update(compiled.unfiltered)
            for si in sorted({si for si, _ in rules}):
                sig = compiled.signatures[si]
                self._try(sig, [sig.rules[ri] for s, ri in sorted(rules) if s == si],
                          lines, index, base)

    def _try(self, sig: Signature, rules: list[Pattern], lines: _Lines, index: int,
             base: int) -> None:
        for start in range(index, max(-1, index - JOIN_LINES - 1), -1):
            if base + start < self.next_free.get(sig.id, 0):
                return
            if start != index and lines.starts_record(start + 1):
                return   # the line after `start` begins a record: not a wrapped continuation
            hit = _hit(rules, lines, start, wrapped_only=start != index)
            if hit is None:
                continue
            weight, end = hit
            if any(p.search(lines.norm(start)) for p in sig.unless):
                return
            window = _window(sig, lines, start)
            if sig.near and not all(p.search(window) for p in sig.near):
                return
            after = _window(sig, lines, start, after=end) if sig.context else ""
            hit_text = " ".join(lines.norm(i) for i in range(start, end + 1))
            score = min(1.0, max(0.0, weight + sum(c.boost for c in sig.context
                                                    if c.found(window, after, hit_text))))
            self.next_free[sig.id] = base + end + 1
            self._record(sig, lines, start, end, base, score)
            return

    def _record(self, sig: Signature, lines: _Lines, start: int, end: int, base: int,
                score: float) -> None:
        current = self.found.get(sig.id)
        evidence = _trim(" ".join(lines.text(i).strip() for i in range(start, end + 1)))
        if current is None:
            self.found[sig.id] = Match(sig, evidence, base + start + 1, score,
                                       source=self.source, lines=[base + start + 1])
            return
        current.count += 1
        if len(current.lines) < MAX_LINES_KEPT:
            current.lines.append(base + start + 1)
        if score > current.confidence:
            current.confidence, current.evidence, current.line = score, evidence, base + start + 1


def _hit(rules: list[Pattern], lines: _Lines, index: int, wrapped_only: bool = False
         ) -> tuple[float, int] | None:
    """(weight, index of the last line the match needed) for the best rule matching at index.

    A join only counts when the match starts on this line and runs past its end, so a line that
    matches on its own is never credited to the line before it.
    """
    line = lines.norm(index)
    if not line:
        return None
    if not wrapped_only:
        alone = [rule.weight for rule in rules if rule.regex.search(line)]
        if alone:
            return max(alone), index
    joined, first_len = line, len(line)
    for extra in range(1, JOIN_LINES + 1):
        if index + extra >= len(lines) or not lines.norm(index + extra) or \
                lines.starts_record(index + extra):
            break
        for glue in (" ", ""):
            candidate = joined + glue + lines.norm(index + extra)
            for rule in rules:
                found = rule.regex.search(candidate)
                if found and found.start() < first_len < found.end():
                    return rule.weight, index + extra
        joined = joined + " " + lines.norm(index + extra)
    return None


def _window(sig: Signature, lines: _Lines, index: int, after: int | None = None) -> str:
    """The lines within near_lines of INDEX; with AFTER, only those after line AFTER."""
    if not (sig.near or sig.context):
        return ""
    low = max(0, index - sig.near_lines) if after is None else after + 1
    high = min(len(lines), index + sig.near_lines + 1)
    return "\n".join(lines.norm(i) for i in range(low, high))


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_EVIDENCE else text[:MAX_EVIDENCE - 1] + "…"


def rank(matches: list[Match]) -> list[Match]:
    """Best first: convincing before weak, then `Match.rank_score`, then first line."""
    return sorted(matches, key=lambda m: (not m.convincing, -m.rank_score, m.line))


class LogInputError(ValueError):
    """A log cannot be read as text (missing, a directory, binary, unreadable): named in the
    message; `kubemedic explain` exits 2 with it."""


# How much of the input is sniffed: NUL bytes there mean binary (refused); bytes that are not
# UTF-8 there are reported (and replaced, U+FFFD, wherever a line is matched).
SNIFF_BYTES = 64 << 10


@dataclass
class ScanResult:
    matches: list[Match]
    lines: int
    bytes: int
    notes: list[str] = field(default_factory=list)


def _sniff(head: bytes, name: str) -> list[str]:
    if b"\0" in head:
        raise LogInputError(
            f"{name}: looks binary (NUL bytes in its first {len(head)} bytes), not a text log; "
            "decompress it first (zcat/xzcat), export a journal with `journalctl -o short`")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:   # not merely a character cut at the sniff boundary
            return [f"{name}: not valid UTF-8 (first bad byte at offset {exc.start}); "
                    "undecodable bytes are replaced (U+FFFD) in what is matched"]
    return []


def match_stream(stream: BinaryIO, name: str = "<stdin>", source: str = "any",
                 signatures: tuple[Signature, ...] | None = None,
                 engine: str | None = None) -> ScanResult:
    """Match a binary stream block by block (memory bounded by BLOCK_BYTES, whatever the size).

    Raises LogInputError when the start of the stream is binary or it cannot be read.
    """
    scanner = Scanner(source, signatures, engine)
    notes: list[str] = []
    first = True
    try:
        while True:
            block = stream.read(BLOCK_BYTES)
            if not block:
                break
            if first:
                notes = _sniff(block[:SNIFF_BYTES], name)
                first = False
            scanner.feed(block)
    except OSError as exc:
        raise LogInputError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    return ScanResult(scanner.result(), scanner.lines, scanner.bytes, notes)


def match_file(path: str | Path, source: str = "any",
               signatures: tuple[Signature, ...] | None = None,
               engine: str | None = None) -> ScanResult:
    """Match a log file; LogInputError (naming the file) when it cannot be read as text."""
    try:
        stream = inputs.open_file(path)
    except inputs.InputError as exc:
        raise LogInputError(str(exc)) from None
    with stream:
        return match_stream(stream, str(path), source, signatures, engine)


def match_text(text: str, source: str = "any",
               signatures: tuple[Signature, ...] | None = None,
               engine: str | None = None) -> list[Match]:
    """Every signature found in `text`, best first (see `rank`)."""
    scanner = Scanner(source, signatures, engine)
    scanner.feed(text.encode("utf-8", "surrogateescape"))
    return scanner.result()


def best(matches: list[Match]) -> Match | None:
    """The answer: the best convincing match, or None ("no known cause")."""
    return next((m for m in matches if m.convincing), None)
