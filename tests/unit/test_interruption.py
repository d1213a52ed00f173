"""What a run cut short records (per host progress, signal), and what the next doctor says."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from kubemedic.engine import interruption, records


def event(name: str, host: str, task: str, counter: int) -> dict:
    return {"event": name, "counter": counter, "event_data": {"host": host, "task": task}}


EVENTS = [
    event("runner_on_start", "n1", "Apt | update", 1), event("runner_on_start", "n2", "Apt | update", 2),
    event("runner_on_ok", "n1", "Apt | update", 3), event("runner_on_unreachable", "n2", "Apt | update", 4),
    event("runner_on_start", "n1", "Apt | install", 5),
]


def test_what_ran_names_in_flight_and_lost_tasks() -> None:
    progress = interruption.what_ran(EVENTS)
    assert progress["n1"] == {"tasks_finished": 1, "last_finished": "Apt | update",
                              "in_flight": "Apt | install", "unreachable_at": None}
    assert progress["n2"]["unreachable_at"] == "Apt | update"
    assert progress["n2"]["in_flight"] is None


def test_signals_become_a_stop_not_an_exit() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with interruption.catch_signals() as stop:
        assert not stop.cancelled()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.cancelled() and stop.signal_name == "SIGTERM" and stop.at
    assert signal.getsignal(signal.SIGTERM) is previous


def test_rerun_command_masks_secret_extra_vars() -> None:
    command = interruption.rerun_command(
        ["recover", "docker-reinstall", "-c", "acme", "-e", "registry_password=hunter2",
         "-e", "@vars.yml", "--extra-vars={\"api_token\": 1}", "-e", "x=1"])
    assert command == ("kubemedic recover docker-reinstall -c acme -e 'registry_password=********'"
                       " -e @vars.yml '--extra-vars=********' -e x=1")


def write_run(state: Path, stamp: str, verb: str, **fields) -> Path:
    record = state / "runs" / "acme" / f"{stamp}-{verb}"
    record.mkdir(parents=True)
    summary = records.RunSummary(customer="acme", verb=verb, playbook="recover.yml",
                                 started=stamp, tags=[verb.removeprefix("recover-")],
                                 command=f"kubemedic recover {verb.removeprefix('recover-')} -c acme")
    for name, value in fields.items():
        setattr(summary, name, value)
    records.write_summary(record, summary)
    return record


def test_doctor_names_an_interrupted_run_until_it_is_re_run(tmp_path: Path) -> None:
    progress = interruption.what_ran(EVENTS)
    write_run(tmp_path, "2026-12-01T01:00:00", "recover-apt-sources-fix", status="interrupted",
              rc=8, progress=progress, interrupted={"signal": "SIGINT", "at": "x"})
    (finding,) = interruption.findings("acme", str(tmp_path), lock_free=True)
    assert finding["check"] == "run-cut-short" and finding["severity"] == "critical"
    assert finding["command"] == "kubemedic recover apt-sources-fix -c acme"
    assert "interrupted by SIGINT" in finding["evidence"]
    assert "n1: Apt | install" in finding["evidence"]
    write_run(tmp_path, "2026-12-01T02:00:00", "recover-apt-sources-fix", status="successful",
              rc=0)
    assert interruption.findings("acme", str(tmp_path), lock_free=True) == []


def test_doctor_names_a_lost_node_and_a_killed_run(tmp_path: Path) -> None:
    write_run(tmp_path, "2026-12-01T01:00:00", "recover-hosts-allow", status="failed", rc=4,
              progress={"n2": {"unreachable_at": "Hosts | write", "in_flight": None}})
    killed = write_run(tmp_path, "2026-12-01T01:30:00", "bootstrap", status="running")
    events = killed / "artifacts" / "id" / "job_events"
    events.mkdir(parents=True)
    (events / "1-a.json").write_text(json.dumps(event("runner_on_start", "n1", "Docker | install", 1)))
    (events / "2-b.json").write_text("{half written")
    found = {f["evidence"].split()[0]: f for f in interruption.findings("acme", str(tmp_path),
                                                                          lock_free=True)}
    assert "lost node(s) mid-run; cut at n2: Hosts | write" in found["recover-hosts-allow"]["evidence"]
    assert found["recover-hosts-allow"]["host"] == "n2"
    assert "killed before it could finish" in found["bootstrap"]["evidence"]
    assert "n1: Docker | install" in found["bootstrap"]["evidence"]
    # While a run holds the customer, a "running" record is that run, not a dead one.
    held = interruption.findings("acme", str(tmp_path), lock_free=False)
    assert [f["evidence"].split()[0] for f in held] == ["recover-hosts-allow"]
