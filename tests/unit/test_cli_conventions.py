"""CLI conventions of issue 19 and history of issue 16 item 3: every verb has --json with a
versioned schema (cli/kubemedic/data/json-schema/, docs/json.md) that its output validates
against; completion scripts that complete; --no-color / NO_COLOR; plain progress lines off a
terminal; --version; history's filters and the reports covering each run."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import jsonschema
import pytest
from click.testing import CliRunner
from rich.console import Console

from kubemedic import output
from kubemedic.commands import history as history_cmd
from kubemedic.engine import records
from kubemedic.engine.progress import Display
from kubemedic.main import cli
from tests.conftest import REPO, run_kubemedic

# An SGR sequence setting a foreground colour (30-38), alone or among other attributes.
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?3[0-8][;m]")


def _leaves(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name), command


def schema_of(path: tuple[str, ...], command: click.Command) -> str | None:
    """The verb's own schema (<verb path joined by '-'>.json), else the run summary's when it
    runs a playbook through the shared run options."""
    own = "-".join(path)
    if own in output.schema_names():
        return own
    return getattr(command.callback, "json_schema", None)


def validate(name: str, document: object) -> None:
    jsonschema.validate(document, output.load_schema(name),
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def invoke(*args: str, state: Path | None = None, inventories: Path | None = None):
    prefix = [*(["--state-dir", str(state)] if state else []),
              *(["--inventory-dir", str(inventories)] if inventories else [])]
    return CliRunner().invoke(cli, [*prefix, *args], catch_exceptions=False)


def test_every_verb_has_json_and_a_schema_file() -> None:
    missing = []
    for path, command in _leaves(cli):
        if not any(p.name == "json_output" for p in command.params):
            missing.append(f"{' '.join(path)}: no --json")
        elif schema_of(path, command) is None:
            missing.append(f"{' '.join(path)}: no schema file")
    assert not missing, missing
    used = {schema_of(p, c) for p, c in _leaves(cli)}
    used |= {"recover-list", "lab-drill-list"}  # the --list forms of recover and lab drill
    assert set(output.schema_names()) == used, "a schema file no verb prints"


def test_schemas_are_valid_and_versioned() -> None:
    for name in output.schema_names():
        schema = output.load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{output.JSON_SCHEMA_VERSION}/{name}.json"), name
        assert f"`{name}.json`" in (REPO / "docs" / "json.md").read_text(), f"{name}: not in docs/json.md"


def test_run_summary_validates(tmp_path) -> None:
    summary = records.RunSummary(customer="acme", verb="recover-hosts-allow",
                                 playbook="recover.yml", started="2026-12-01T10:00:00+00:00")
    summary.hosts = {"n1": records.HostResult(ok=3, changed=1)}
    summary.failures = [{"host": "n1", "task": "t", "outcome": "failed", "message": "boom"}]
    validate("run", {**summary.to_json(), "record": str(tmp_path)})
    with pytest.raises(jsonschema.ValidationError):
        validate("run", {**summary.to_json()})  # the record path is part of the contract


def test_offline_verbs_validate(tmp_path) -> None:
    inventories, state = tmp_path / "inventories", tmp_path / "state"
    inventories.mkdir()
    documents = {
        "init": invoke("init", "acme", "--json", inventories=inventories),
        "inventory-check": invoke("inventory", "check", "acme", "--json", inventories=inventories),
        "inventory-import": invoke("inventory", "import", "--from", "openpai", "-c", "pai",
                                   str(REPO / "tests/data/openpai-layout.yaml"), "--json",
                                   inventories=inventories),
        "inventory-schema": invoke("inventory", "schema", "--json"),
        "explain": invoke("explain", str(REPO / "tests/data/logs/daemon-json.yml"), "--json"),
        "history": invoke("history", "--json", state=state),
        "recover-list": invoke("recover", "--list", "--json"),
        "lab-drill-list": invoke("lab", "drill", "--list", "--json"),
        "etcd-list": invoke("etcd", "list", "-c", "acme", "--json", state=state),
        "completion": invoke("completion", "fish", "--json"),
    }
    for name, result in documents.items():
        assert result.exit_code == 0, (name, result.output)
        validate(name, json.loads(result.output))
    assert json.loads(documents["inventory-check"].output)["hosts"] > 0


def _record(state: Path, customer: str, name: str, **fields) -> Path:
    record = state / "runs" / customer / name
    record.mkdir(parents=True)
    summary = {"customer": customer, "verb": name.split("-", 1)[1], "status": "successful",
               "rc": 0, "started": f"{name[:4]}-{name[4:6]}-{name[6:8]}T{name[9:11]}:{name[11:13]}"
               ":00+00:00", "hosts": {}, **fields}
    (record / "summary.json").write_text(json.dumps(summary))
    return record


def test_history_filters_and_reports(tmp_path) -> None:
    state = tmp_path / "state"
    doctor = _record(state, "acme", "20261201T0800.000000Z-doctor", rc=5)
    fix = _record(state, "acme", "20261201T0810.000000Z-recover-hosts-allow")
    _record(state, "acme", "20261201T0820.000000Z-recover-pause-image", status="failed", rc=3)
    clean = _record(state, "acme", "20261201T0830.000000Z-doctor")
    _record(state, "acme", "20261201T0900.000000Z-report",
            covers=[doctor.name, str(fix), clean.name])  # ids or record paths
    _record(state, "acme", "20261201T0905.000000Z-report", extra={"covers": [fix.name]})

    def runs(*args: str) -> list[dict]:
        result = invoke("history", "-c", "acme", "--json", *args, state=state)
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        validate("history", document)
        return document

    every = {run["id"]: run for run in runs()}
    assert every[fix.name]["covered_by"] == ["20261201T0900.000000Z-report",
                                             "20261201T0905.000000Z-report"]
    assert every[doctor.name]["covered_by"] == ["20261201T0900.000000Z-report"]
    assert every["20261201T0820.000000Z-recover-pause-image"]["covered_by"] == []
    assert [r["verb"] for r in runs("--verb", "recover")] == ["recover-hosts-allow",
                                                              "recover-pause-image"]
    assert [r["id"] for r in runs("--status", "failed")] == [
        "20261201T0820.000000Z-recover-pause-image"]
    assert len(runs("--since", "2026-12-01T08:30")) == 3
    assert runs("--verb", "doctor", "--since", "2026-12-01T08:15") == [every[clean.name]]
    table = invoke("history", "-c", "acme", "--verb", "report", state=state)
    assert table.exit_code == 0 and "reports" in table.output
    bad = invoke("history", "--since", "yesterday", state=state)
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.output


def test_since_accepts_ages() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    assert history_cmd.parse_since("90m", now) == datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)
    assert history_cmd.parse_since("7d", now).day == 25


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell) -> None:
    result = invoke("completion", shell)
    assert result.exit_code == 0
    assert "_KUBEMEDIC_COMPLETE" in result.output


def test_bash_completion_completes_verbs_and_steps() -> None:
    """The generated script, sourced in a real bash, completes a verb and a recovery step
    through the installed `kubemedic` entry point (click derives the variable from its name)."""
    script = invoke("completion", "bash").output
    probe = (script + "\nCOMP_WORDS=(kubemedic @WORDS@); COMP_CWORD=@CWORD@; "
             "_kubemedic_completion kubemedic; printf '%s\\n' \"${COMPREPLY[@]}\"")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for words, cword, wanted in (("rec", 1, "recover"), ("recover pause", 2, "pause-image")):
        shown = subprocess.run(["bash", "-c", probe.replace("@WORDS@", words).replace(
            "@CWORD@", str(cword))], env=env, text=True, capture_output=True, timeout=120,
            check=True).stdout
        assert wanted in shown.split(), (words, shown)


def test_no_color_and_plain_progress(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    from kubemedic.doctor import kb

    log = tmp_path / "kubelet.log"
    log.write_text(kb.load()[0].examples[0] + "\n")  # a critical cause: printed in red
    colored = run_kubemedic("explain", str(log), env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert COLOUR.search(colored.stdout)  # forced colour is what --no-color must switch off
    for args, env in ((["--no-color", "explain", str(log)], {}), (["explain", str(log)],
                                                                  {"NO_COLOR": "1"})):
        plain = run_kubemedic(*args, env={"FORCE_COLOR": "1", "COLUMNS": "160", **env})
        assert plain.returncode == 0 and kb.load()[0].id in plain.stdout
        assert not COLOUR.search(plain.stdout), args  # bold/italic stay, colours go
    # Off a terminal, progress is one plain line per event, never a live table.
    stream = io.StringIO()
    display = Display(console=Console(file=stream))
    assert display.mode == "plain"
    monkeypatch.setattr(sys, "stderr", stream)
    with display:
        display.event({"event": "playbook_on_play_start", "event_data": {"play": "Doctor"}})
        display.event({"event": "runner_on_ok", "event_data": {
            "host": "n1", "task": "Doctor | probe", "res": {"changed": False}}})
    assert stream.getvalue().splitlines() == ["PLAY Doctor", "ok          n1: Doctor | probe"]


def test_version_names_ansible_the_collections_and_the_kb() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    from importlib.metadata import version

    assert lines[0] == f"kubemedic {version('kubemedic')}"
    assert f"ansible-core {version('ansible-core')}" in lines
    collections = {line.split()[1]: line.split()[2] for line in lines
                   if line.startswith("collection ")}
    import yaml

    assert collections["kubemedic.cluster"] == yaml.safe_load(
        (REPO / "galaxy.yml").read_text())["version"]
    assert {"ansible.posix", "community.general"} <= set(collections)
    assert [line for line in lines if line.startswith("kb ") and "signatures, sha256:" in line]


def test_collection_version_follows_the_cli() -> None:
    import yaml

    from kubemedic import __version__

    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    requirements = {c["name"]: c["version"] for c in yaml.safe_load(
        (REPO / "requirements.yml").read_text())["collections"]}
    assert galaxy["version"] == __version__
    assert galaxy["dependencies"] == requirements
