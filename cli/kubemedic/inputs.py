"""The one way kubemedic reads input it did not write: inventories, heal policies, bundle manifests,
extra variables, importer files, names given on the command line.

Every reader here is bounded before it parses: size (MAX_BYTES), encoding (UTF-8 only, with the
line of the first bad byte), nesting depth (MAX_DEPTH) and YAML alias expansion (MAX_EXPANDED
nodes, so an alias bomb is refused in linear time instead of exhausting memory later when a
message formats the value). Problems raise InputError naming the source, the line where known and
the field; echoed values are clipped (`shown`).

Plain Python + PyYAML (no click): the filter and action plugins import this under
ansible-playbook / AWX. The CLI turns InputError into exit 2 (kubemedic.main).
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

MAX_BYTES = 8 * 1024 * 1024   # an inventory, policy or manifest is kilobytes; refuse a log by mistake
MAX_DEPTH = 64                # deepest real input (a bundle manifest) nests 4 levels
MAX_EXPANDED = 200_000        # YAML nodes after alias expansion; real inventories have < 5,000
MAX_SHOWN = 80                # characters of a value echoed back in a message
NAME_MAX = 63                 # a customer / snapshot / lab name: one DNS label, one path part


class InputError(ValueError):
    """Unreadable or malformed input: `source` (file or option), `line` (1-based) when known."""

    def __init__(self, source: str, message: str, line: int | None = None,
                 problems: list[str] | None = None) -> None:
        self.source = source
        self.line = line
        self.message = message
        self.problems = problems or []
        where = f"{source}:{line}" if line else source
        super().__init__("\n".join([f"{where}: {message}", *(f"  - {p}" for p in self.problems)]))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring = 3, 6, 6, 30


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """repr() of a value for a message, clipped: a 5 MB string is not echoed back whole."""
    if isinstance(value, (dict, list, tuple, set)):
        text = _REPR.repr(value)  # bounded: a few items, a few levels
        return text if len(text) <= limit else f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[:limit]}… ({size} characters)"


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """Text for a message as it is (no quotes), clipped like `shown`."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def check_name(kind: str, name: str, pattern: str = r"[a-z0-9][a-z0-9_-]*",
               hint: str = "use lower-case letters, digits, '-' and '_'") -> str:
    """A name that becomes a folder or file name: whole-string match (no trailing newline), at
    most NAME_MAX characters (a 300-character name is refused here, not as ENAMETOOLONG)."""
    if not isinstance(name, str) or not name:
        raise InputError(kind, "is empty")
    if len(name) > NAME_MAX:
        raise InputError(kind, f"{shown(name)} is too long ({len(name)} characters, "
                               f"at most {NAME_MAX})")
    if not re.fullmatch(pattern, name):
        raise InputError(kind, f"{shown(name)} is invalid: {hint}")
    return name


def _bad_byte_line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, source: str) -> str:
    """UTF-8 text (a UTF-8 BOM is accepted); UTF-16/32, binary and Latin-1 are named as such."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(source, "is UTF-16/UTF-32 encoded; save it as UTF-8")
    if b"\x00" in data[:8192]:
        raise InputError(source, "is binary (NUL bytes), not a text file",
                         _bad_byte_line(data, data.index(b"\x00")))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = data[exc.start:exc.start + 1].hex()
        raise InputError(source, f"byte 0x{byte} is not UTF-8 (Latin-1 or another legacy "
                                 "encoding?); save the file as UTF-8",
                         _bad_byte_line(data, exc.start)) from None


def open_file(path: Path | str) -> BinaryIO:
    """`path` opened to read bytes: every file kubemedic reads is opened here (logs `explain`
    streams included), so a folder or an unreadable file gets the same message everywhere."""
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), "is a folder, not a file")
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None


def read_bytes(path: Path | str, max_bytes: int = MAX_BYTES) -> bytes:
    path = Path(path)
    with open_file(path) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:  # e.g. EIO, or EISDIR on a path that became a folder
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise InputError(str(path), f"is larger than {max_bytes // (1024 * 1024)} MiB: "
                                    "not an input kubemedic reads")
    return data


def read_text(path: Path | str, max_bytes: int = MAX_BYTES) -> str:
    return decode(read_bytes(path, max_bytes), str(path))


class SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with bounded depth, duplicate-key notes, and Ansible's `!vault` /
    `!unsafe` tags accepted without decrypting (the value becomes a placeholder / the text)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.duplicates: list[tuple[int, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The composer recurses per level: refuse deep nesting before Python's recursion limit.
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise InputError("", f"nested deeper than {MAX_DEPTH} levels", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


VAULT_PLACEHOLDER = "<vault>"
SafeLoader.add_constructor("!vault", lambda loader, node: VAULT_PLACEHOLDER)
SafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _expanded_size(root: yaml.Node) -> int | None:
    """Nodes the document would have with every alias expanded, computed once per shared node
    (linear in the file, whatever the expansion would be); None when an alias refers to a node
    that contains it (`x: &a [*a]`), which no expansion ends."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()   # on the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 0) for c in children)
            open_nodes.discard(id(node))
            continue
        if id(node) in open_nodes:
            return None
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _yaml_problem(exc: yaml.YAMLError, source: str) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    return InputError(source, f"not valid YAML: {clip(text, 200)}",
                      mark.line + 1 if mark is not None else None)


_QUOTED_OR_COMMENT = re.compile(r"'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"|#[^\n]*")
_FLOW = re.compile(r"[\[\]{}\n]")


def _flow_depth_problem(text: str) -> int | None:
    """Line where flow brackets nest deeper than MAX_DEPTH. PyYAML's scanner slows down
    quadratically on deep flow nesting before the composer's depth check can refuse it."""
    depth = deepest_line = 0
    line = 1
    for match in _FLOW.finditer(_QUOTED_OR_COMMENT.sub("", text)):
        char = match.group()
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                deepest_line = line
                break
        elif depth:
            depth -= 1
    return deepest_line or None


def load_yaml(text: str, source: str, warnings: list[str] | None = None) -> Any:
    """One YAML document from text, bounded. Duplicate keys are appended to `warnings` as
    '<source>:<line>: duplicate key ...' lines (the later value wins, as in Ansible)."""
    deep = _flow_depth_problem(text)
    if deep is not None:
        raise InputError(source, f"nested deeper than {MAX_DEPTH} levels", deep)
    try:
        loader = SafeLoader(text)  # the reader refuses control characters already here
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, source) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node)
        if size is None:
            raise InputError(source, "a YAML alias refers to a node that contains it "
                                     "(it would expand forever)", node.start_mark.line + 1)
        if size > MAX_EXPANDED:
            raise InputError(source, f"YAML aliases expand to {size} nodes (more than "
                                     f"{MAX_EXPANDED}): an alias bomb?", node.start_mark.line + 1)
        data = loader.construct_document(node)
    except InputError as exc:
        raise InputError(source, exc.message, exc.line) from None
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, source) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2001-13-45
        raise InputError(source, f"not valid YAML: a value cannot be read: {clip(str(exc))}") \
            from None
    finally:
        loader.dispose()
    if warnings is not None:
        warnings.extend(f"{source}:{line}: duplicate key {shown(key)} (the later value wins)"
                        for line, key in loader.duplicates)
    return data


def load_yaml_file(path: Path | str, warnings: list[str] | None = None,
                   max_bytes: int = MAX_BYTES) -> Any:
    return load_yaml(read_text(path, max_bytes), str(path), warnings)


def depth(data: Any) -> int:
    """Nesting depth of plain data, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def load_json(text: str, source: str) -> Any:
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(source, f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg} (column {exc.colno})",
                         exc.lineno) from None
    if depth(data) > MAX_DEPTH:
        raise InputError(source, f"nested deeper than {MAX_DEPTH} levels")
    return data


def load_json_file(path: Path | str, max_bytes: int = MAX_BYTES) -> Any:
    return load_json(read_text(path, max_bytes), str(path))


def strings(data: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(field path, value) of every string in plain data (keys included), without recursion."""
    stack: list[tuple[str, Any]] = [(where, data)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, value in item.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    yield child, key
                stack.append((child, value))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", value) for i, value in enumerate(item))


JINJA = re.compile(r"\{\{|\{%|\{#")


def refuse_jinja(data: Any, source: str) -> None:
    """Imported values never carry templates over into an inventory (Ansible would evaluate them
    on the dev-box at run time)."""
    found = [f"{field}: {shown(value)} contains Jinja ({{{{ / {{% / {{#}}); imported values "
             "must be plain" for field, value in strings(data) if JINJA.search(value)]
    if found:
        raise InputError(source, "refused: templates in imported values", problems=found)


# Lookups that run a program on the dev-box when a playbook templates the value.
COMMAND_LOOKUPS = ("pipe", "lines")
# Lookups that only read: any other plugin name (a collection's, a computed one) is refused too.
READ_ONLY_LOOKUPS = ("env", "file", "vars", "varnames", "first_found", "fileglob", "items",
                     "list", "dict", "indexed_items", "sequence", "subelements", "together",
                     "nested", "random_choice", "inventory_hostnames", "config", "unvault",
                     "ini", "csvfile", "template", "password")
_LOOKUP_CALL = re.compile(r"\b(?:lookup|query|q)\s*\(\s*(?P<arg>[^,)]*)")
_JINJA_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def command_lookup(value: str) -> str | None:
    """The plugin of the first lookup/query/q call inside a template in `value` that may run a
    command on the dev-box (`pipe`, `lines`, any plugin outside READ_ONLY_LOOKUPS, or a name the
    template computes); None when there is none."""
    for block in _JINJA_BLOCK.findall(value):
        for call in _LOOKUP_CALL.finditer(block):
            arg = call.group("arg").strip()
            literal = re.fullmatch(r"""(['"])([\w.]+)\1""", arg)
            if literal is None:
                return arg or "<computed plugin name>"
            plugin = literal.group(2).removeprefix("ansible.builtin.")
            if plugin in COMMAND_LOOKUPS or plugin not in READ_ONLY_LOOKUPS:
                return plugin
    return None
