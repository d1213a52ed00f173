"""No programs in strings (issue 17): a Jinja program (an accumulator built with `{% set %}` and a
loop, `namespace()`) or a `python3 -c` script in a role or playbook is only testable through a
whole Ansible run. Logic goes into plugins/filter/ (plain functions with unit tests) or a module
under plugins/modules/; the YAML keeps one short filter or module call. Templates (*.j2) and
short idiomatic Jinja (a ternary, a map/select chain, a `{% for %}` that writes file lines) are
fine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(p for top in ("roles", "playbooks") for p in (REPO / top).rglob("*.y*ml")
               if "templates" not in p.parts and "files" not in p.parts)
PROGRAMS = {
    "a Jinja program ({% set %})": re.compile(r"\{%-?\s*set\b"),
    "a Jinja program (namespace())": re.compile(r"\bnamespace\("),
    "a python -c script": re.compile(r"\bpython3?['\"]?(?:[\s,]+|\s*\n\s*-\s+)['\"]?-c\b"),
}


def programs_in(text: str) -> list[str]:
    found = []
    for what, pattern in PROGRAMS.items():
        for match in pattern.finditer(text):
            found.append(f"line {text.count(chr(10), 0, match.start()) + 1}: {what}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_program_in_a_string(path: Path) -> None:
    found = programs_in(path.read_text())
    assert not found, (f"{path.relative_to(REPO)}: {'; '.join(found)}: move it into "
                       "plugins/filter/ (or a module) with unit tests")


@pytest.mark.parametrize("text", [
    "x: >-\n  {%- set out = [] -%}\n",
    "x: \"{% set ns = namespace(found=false) %}\"\n",
    "argv: [python3, -c, \"{{ prog }}\", a]\n",
    "cmd: python3 -c 'import json'\n",
    "argv:\n  - python3\n  - -c\n",
])
def test_the_patterns_catch_programs(text: str) -> None:
    assert programs_in(text)


@pytest.mark.parametrize("text", [
    "x: \"{{ a if b else c }}\"\n",
    "block: |\n  {% for host in groups['cluster'] %}\n  {{ host }}\n  {% endfor %}\n",
    "cmd: python3 --version\n",
])
def test_short_jinja_is_fine(text: str) -> None:
    assert not programs_in(text)
