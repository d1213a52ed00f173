"""The one place kubemedic calls Ansible: ansible-runner's Python API, recorded."""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubemedic import errors, paths
from kubemedic.engine import interruption, records
from kubemedic.engine.progress import Display


@dataclass
class RunRequest:
    customer: str
    verb: str
    playbook: str  # relative to the project's playbooks/ folder
    inventory: Path
    limit: str | None = None
    tags: list[str] = field(default_factory=list)
    skip_tags: list[str] = field(default_factory=list)
    extravars: dict[str, Any] = field(default_factory=dict)
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    confirmed: bool = False
    state_dir: str | None = None
    vault_password_file: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Mitogen pays a per-host interpreter start that only many tasks win back: a one-probe
    # playbook (doctor) is faster linear (benchmarks/fanout). KUBEMEDIC_MITOGEN=1 still forces it.
    mitogen_by_default: bool = True


@dataclass
class RunResult:
    rc: int
    summary: records.RunSummary
    record: Path
    events: list[dict[str, Any]] = field(default_factory=list)


def _stats_to_hosts(stats: dict[str, dict[str, int]] | None) -> dict[str, records.HostResult]:
    hosts: dict[str, records.HostResult] = {}
    if not stats:
        return hosts
    mapping = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
               "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
    for key, attr in mapping.items():
        for host, count in (stats.get(key) or {}).items():
            setattr(hosts.setdefault(host, records.HostResult()), attr, count)
    for host in stats.get("processed") or {}:
        hosts.setdefault(host, records.HostResult())
    return hosts


def exit_code_for(status: str, hosts: dict[str, records.HostResult], ansible_rc: int) -> int:
    if any(h.failed for h in hosts.values()):
        return errors.EXIT_HOST_FAILED
    if any(h.unreachable for h in hosts.values()):
        return errors.EXIT_UNREACHABLE
    if status == "successful" and ansible_rc == 0:
        return errors.EXIT_OK
    return errors.EXIT_INTERNAL  # ansible itself failed (syntax, missing role, ...)


class MitogenUnavailable(RuntimeError):
    """Mitogen was asked for but cannot be used here; runs fall back to the linear strategy."""


MITOGEN_ENV = "KUBEMEDIC_MITOGEN"
_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def mitogen_mode(env: dict[str, str] | os._Environ = os.environ) -> str:
    """'auto' (default: Mitogen when the speed extra is installed and supports this ansible-core),
    'on' (asked for: say so when it cannot be used) or 'off'."""
    value = env.get(MITOGEN_ENV, "").strip().lower()
    if value in _OFF:
        return "off"
    return "on" if value in _ON else "auto"


def mitogen_environment() -> dict[str, str]:
    """ANSIBLE_* settings for Mitogen's mitogen_linear strategy (optional `speed` extra).

    Nodes need python3-apt installed beforehand (Mitogen cannot auto-install it for the apt
    module); the common role installs it, the lab image has it. docs/performance.md.
    """
    try:
        import ansible_mitogen.loaders
        import ansible_mitogen.plugins.strategy as strategies
    except ImportError as exc:
        raise MitogenUnavailable(f"mitogen is not installed ({exc}); "
                                 "pip install 'kubemedic[speed]'") from exc
    except Exception as exc:  # mitogen refusing this ansible-core at import time
        raise MitogenUnavailable(f"mitogen cannot load: {exc}") from exc
    try:
        ansible_mitogen.loaders.assert_supported_release()
    except Exception as exc:
        raise MitogenUnavailable(f"mitogen does not support this ansible-core: {exc}") from exc
    return {"ANSIBLE_STRATEGY_PLUGINS": str(Path(strategies.__file__).parent),
            "ANSIBLE_STRATEGY": "mitogen_linear"}


def strategy_environment(mitogen_by_default: bool = True) -> dict[str, str]:
    """ANSIBLE_STRATEGY* settings of a run: Mitogen's when KUBEMEDIC_MITOGEN and the verb call for
    it and it can be used, none (ansible.cfg's linear) otherwise."""
    mode = mitogen_mode()
    if mode == "off" or (mode == "auto" and not mitogen_by_default):
        return {}
    try:
        return mitogen_environment()
    except MitogenUnavailable as exc:
        if mode == "on":
            print(f"kubemedic: {MITOGEN_ENV}=1 ignored, using the linear strategy: {exc}",
                  file=sys.stderr)
        return {}


# Warnings of the controller's Python that say nothing about the run (PYTHONWARNINGS syntax).
QUIET_WARNINGS = "ignore:DSA is deprecated"


def environment(project: Path, request: RunRequest) -> dict[str, str]:
    # ansible-runner keeps this run's facts in its record (artifacts/<id>/fact_cache): gathered
    # once, shared by the run's plays, kept as evidence, never read by a later run (ansible.cfg).
    env = {
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "KUBEMEDIC_PROJECT_DIR": str(project),
        # cryptography 51 warns at import that DSA is deprecated (ansible-core's ssh-agent
        # code imports it): every run's record began with two lines of that, nothing to act on
        "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"),
                                                 QUIET_WARNINGS))),
    }
    env.update(strategy_environment(request.mitogen_by_default))
    env.update(request.extra_env)
    return env


def _ensure_ansible_on_path() -> None:
    """ansible-playbook comes from the same environment as kubemedic, activated or not."""
    bindir = str(Path(sys.executable).parent)
    search = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in search:
        os.environ["PATH"] = os.pathsep.join([bindir, *search])


def run_playbook(request: RunRequest, display: Display) -> RunResult:
    import ansible_runner  # late import keeps `kubemedic --help` fast

    _ensure_ansible_on_path()

    project = paths.project_root()
    playbook = project / "playbooks" / request.playbook
    record = records.new_record_dir(request.customer, request.verb, request.state_dir)
    extravars = {
        **request.extravars,
        "kubemedic_customer": request.customer,
        "kubemedic_record_dir": str(record),
        "kubemedic_confirmed": request.confirmed,
    }
    summary = records.RunSummary(
        customer=request.customer, verb=request.verb, playbook=request.playbook,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tags=request.tags, skip_tags=request.skip_tags, limit=request.limit,
        check=request.check, extravars=records.redact(extravars),
        command=interruption.rerun_command())
    records.write_summary(record, summary)
    flags = [flag for flag, on in (("--check", request.check), ("--diff", request.diff)) if on]
    if request.vault_password_file:
        flags.append(f"--vault-password-file={shlex.quote(str(Path(request.vault_password_file).resolve()))}")
    cmdline = " ".join(flags)
    envvars = environment(project, request)
    summary.strategy = envvars.get("ANSIBLE_STRATEGY", "linear")
    events: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> bool:
        events.append(event)
        return display.event(event)

    started = time.monotonic()
    with display, interruption.catch_signals() as stop:
        runner = ansible_runner.run(
            private_data_dir=str(record),
            project_dir=str(project),
            playbook=str(playbook),
            inventory=str(request.inventory / "hosts.yml"),
            limit=request.limit,
            tags=",".join(request.tags) or None,
            skip_tags=",".join(request.skip_tags) or None,
            extravars=extravars,
            cmdline=cmdline or None,
            verbosity=request.verbosity or None,
            envvars=envvars,
            event_handler=on_event,
            cancel_callback=stop.cancelled,
            quiet=True,
            json_mode=False,
        )
    summary.duration_seconds = round(time.monotonic() - started, 2)
    summary.hosts = _stats_to_hosts(runner.stats)
    summary.status = runner.status
    summary.failures = display.tracker.failures
    summary.reports = display.tracker.reports
    if request.diff:
        summary.extra["diffs"] = display.tracker.diffs
    summary.rc = exit_code_for(runner.status, summary.hosts, runner.rc)
    summary.progress = interruption.what_ran(events)
    if stop.cancelled():
        summary.status = "interrupted"
        summary.rc = errors.EXIT_INTERRUPTED
        summary.interrupted = {"signal": stop.signal_name, "at": stop.at}
        summary.failures.append({"host": None, "task": None, "outcome": "interrupted",
                                 "message": f"{stop.signal_name} at {stop.at}: stopped; in flight: "
                                 + (", ".join(f"{h}: {p['in_flight']}"
                                              for h, p in sorted(summary.progress.items())
                                              if p["in_flight"]) or "no task")
                                 + ". Re-run the same command to complete it"})
    elif summary.rc == errors.EXIT_INTERNAL:
        summary.failures.append({"host": None, "task": None, "outcome": "ansible-error",
                                 "message": _tail(runner)})
    records.scrub_runner_env(record)
    records.write_summary(record, summary)
    return RunResult(rc=summary.rc, summary=summary, record=record, events=events)


def _tail(runner: Any, lines: int = 15) -> str:
    try:
        text = runner.stdout.read()
    except (OSError, AttributeError):
        return f"ansible exited with status {getattr(runner, 'rc', '?')}"
    return "\n".join(text.strip().splitlines()[-lines:])

