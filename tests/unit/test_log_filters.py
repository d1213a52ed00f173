"""plugins/filter/kubemedic_logs.py: the tail of a truncated container log kept in the run record
by `recover disk-cleanup`, bounded by bytes (issue 14: `tail -n` on a log without newlines read
600 MB), and the task that reads it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_logs", REPO / "plugins" / "filter" / "kubemedic_logs.py")
logs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(logs)


def test_a_cut_chunk_loses_its_partial_first_line() -> None:
    assert logs.log_tail('tial"}\n{"log":"a"}\n{"log":"b"}\n', True, 200) == '{"log":"a"}\n{"log":"b"}\n'


def test_a_whole_file_keeps_its_first_line_and_only_the_last_lines() -> None:
    assert logs.log_tail("1\n2\n3\n", False, 200) == "1\n2\n3\n"
    assert logs.log_tail("1\n2\n3\n", False, 2) == "2\n3\n"
    assert logs.log_tail("1\n2\n3", "yes", 2) == "2\n3"


def test_a_log_without_newlines_keeps_the_bytes_read() -> None:
    assert logs.log_tail("x" * 1000, True, 200) == "x" * 1000   # never longer than the read
    assert logs.log_tail("x" * 1000 + "\n", True, 200) == "x" * 1000 + "\n"
    assert logs.log_tail("", True, 200) == ""


def test_the_task_reads_a_byte_budget_never_lines() -> None:
    """The read itself must be bounded: `tail -n` scans back to N newlines, through the whole
    file when there are none."""
    tasks = yaml.safe_load((REPO / "roles" / "common" / "tasks" / "recover_disk_cleanup.yml").read_text())
    reads = [t["ansible.builtin.command"]["cmd"] for t in tasks
             if "tail " in str(t.get("ansible.builtin.command", ""))]
    assert reads, "no tail of the logs"
    for cmd in reads:
        assert cmd.startswith("tail -c {{ common_cleanup_log_tail_bytes"), cmd
        assert "tail -n" not in cmd, cmd
