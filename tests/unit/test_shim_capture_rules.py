"""`recover shim-crash-capture` (seed 004): the audit rules file it writes, rendered from the task
itself with ansible-core's Templar. Issue 14: the rules were joined with a literal backslash-n,
so the file held one line that auditctl refuses and neither kill rule ever loaded."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "container_runtime"
init_plugin_loader()


def rules_file() -> str:
    tasks = yaml.safe_load((ROLE / "tasks" / "shim_crash_capture_present.yml").read_text())
    task = next(t for t in tasks
                if t.get("ansible.builtin.copy", {}).get("dest", "").endswith("-kill.rules"))
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {"container_runtime_shim_capture_audit_rules":
                 defaults["container_runtime_shim_capture_audit_rules"]}
    return Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template(task["ansible.builtin.copy"]["content"]))


def test_one_rule_per_line() -> None:
    text = rules_file()
    assert "\\n" not in text, text
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rules) == 2, text
    assert text.endswith("\n")


def test_each_rule_parses_as_auditctl_reads_a_rules_file() -> None:
    """auditctl -R reads one rule per line, each as its command-line options: an `-a action,list`
    pair, `-F field=value` filters, `-S` syscalls, and exactly one key per rule."""
    text = rules_file()
    keys = []
    for line in (ln for ln in text.splitlines() if ln and not ln.startswith("#")):
        argv = shlex.split(line)
        assert argv[0] == "-a" and argv[1] == "always,exit", line
        pairs = dict(zip(argv[2::2], argv[3::2], strict=True))
        assert set(argv[2::2]) <= {"-F", "-S"}, line
        fields = [v for o, v in zip(argv[2::2], argv[3::2], strict=True) if o == "-F"]
        assert all("=" in f for f in fields), line
        assert pairs["-S"] == "kill,tkill,tgkill", line
        keys += [f.split("=", 1)[1] for f in fields if f.startswith("key=")]
        assert len([f for f in fields if f.startswith("a1=")]) == 1, line
    assert keys == ["trace_kill_9", "trace_kill_15"]


def _strings(node: object):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_no_backslash_n_literal_in_a_jinja_expression() -> None:
    """The same mistake anywhere: in a YAML block scalar (`|`) `join('\\n')` reaches Jinja as a
    backslash and an n, and ansible-core 2.19 writes them as such (one line in the file)."""
    found = []
    for path in sorted((REPO / "roles").rglob("*.yml")) + sorted((REPO / "playbooks").rglob("*.yml")):
        for text in _strings(yaml.safe_load(path.read_text())):
            if "{{" in text and "('\\n')" in text:
                found.append(f"{path.relative_to(REPO)}: {text.strip()[:80]}")
    assert not found, "\n".join(found)
