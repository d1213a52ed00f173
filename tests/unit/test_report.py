"""`kubemedic report`: the incident record's content (English and Chinese), redaction, the run
selection and bad input (exit 2), from run records written as the CLI writes them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from kubemedic import output
from kubemedic.engine import record_query as rq
from kubemedic.main import cli
from kubemedic.report.incident import command_of, redact_text
from tests.unit.report_records import SECRET, two_fault_incident


@pytest.fixture
def incident(tmp_path: Path) -> dict:
    state, inventories = tmp_path / "state", tmp_path / "inventories"
    runs = two_fault_incident(state, inventories)
    return {"state": state, "inventories": inventories, "runs": runs}


def report(incident: dict, *args: str):
    result = CliRunner().invoke(cli, ["--state-dir", str(incident["state"]), "--inventory-dir",
                                      str(incident["inventories"]), "report", "-c", "acme",
                                      *args])
    return result


def written(incident: dict, *args: str) -> tuple[dict, str, str]:
    result = report(incident, "--json", *args)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    jsonschema.validate(answer, output.load_schema("report"))
    md = Path(answer["markdown"]).read_text(encoding="utf-8")
    page = Path(answer["html"]).read_text(encoding="utf-8")
    return answer, md, page


def test_english_report_follows_seed_000_layout(incident) -> None:
    answer, md, _page = written(incident)
    assert [f["checks"] for f in answer["faults"]] == [
        ["docker-daemon-json"], ["hosts-allow-subnet", "hosts-allow-duplicate"]]
    order = [md.index(h) for h in ("**Basic information**", "## Fault record",
                                   "### Fault 1: docker-daemon-json",
                                   "### Fault 2: hosts-allow-subnet, hosts-allow-duplicate",
                                   "## Leftover items",
                                   "## Per-host status", "## Timeline")]
    assert order == sorted(order)
    assert "* Customer: acme" in md
    assert "2026-12-02 01:00:00 UTC ~ 2026-12-02 01:04:20 UTC" in md
    assert ("1 master(s), 3 worker(s), etcd 1, registry 1, NFS server 1; 1 GPU node(s), "
            "1 NPU node(s); container runtime docker; Kubernetes 1.20.2") in md
    assert "| acme-node2 | 10.77.40.12 | workers, gpu | nvidia |" in md
    fault1 = md[md.index("### Fault 1"):md.index("### Fault 2")]
    # symptom: doctor's evidence, the folded symptom too
    assert "Expecting ',' delimiter" in fault1 and "docker.service: failed" in fault1
    # analysis: cause and its source
    assert "daemon.json does not parse" in fault1
    assert "doctor check docker-daemon-json" in fault1
    assert "recovery step daemon-json (cli/kubemedic/data/recover_steps.yml), seed 000" in fault1
    # handling: the command, who, from where, per host, duration, record
    assert "`kubemedic recover daemon-json -c acme --limit acme-node1`" in fault1
    assert "by oncall from devbox-7" in fault1 and "20.0 s, exit 0" in fault1
    assert "acme-node1 ok=9 changed=3 failed=0 unreachable=0" in fault1
    assert str(incident["runs"]["fix1"]) in fault1
    assert "hosts-allow" not in fault1.split("Verification")[0].split("Handling")[1]
    # verification: the clean doctor run; time to repair: doctor1 start -> doctor2 end
    assert rq.run_id({"record": str(incident["runs"]["doctor2"])}) in fault1
    assert "(that run: clean;" in fault1
    assert "**Time to repair**: 3 min 20 s" in fault1
    assert "**Leftover items**: none" in fault1
    fault2 = md[md.index("### Fault 2"):md.index("## Leftover items")]
    assert "acme-node3 hosts-allow-duplicate: `/etc/hosts.allow:2: portmap: 10.9.9.0/24`" in fault2
    assert fault2.count("`kubemedic recover hosts-allow") == 1
    leftovers = md[md.index("## Leftover items"):md.index("## Per-host status")]
    assert "warning acme-node2 container-log-size" in leftovers
    assert "| acme-node1 | repaired | - |" in md and "| acme-node3 | - | repaired |" in md
    assert "`kubemedic lab drill daemon-json-corrupted -c acme --limit acme-node1`" in md
    assert answer["faults"][1]["repair_seconds"] == 200.0


def test_chinese_report_headings(incident) -> None:
    _answer, md, page = written(incident, "--lang", "zh")
    for heading in ("# 生产环境异常恢复记录：acme", "**基本信息**", "* 环境客户: acme",
                    "* 发生异常时间: 2026-12-02 01:00:00 UTC", "## 故障记录",
                    "### 故障 1：docker-daemon-json", "**现象**", "**定位分析**", "**处理**",
                    "**验证**", "**修复用时**: 3 分 20 秒", "## 遗留待处理和优化的问题",
                    "## 时间线", "执行人 oncall，开发机 devbox-7"):
        assert heading in md, heading
    assert "Fault record" not in md and "Symptom" not in md
    assert '<html lang="zh-CN">' in page and "<title>生产环境异常恢复记录：acme</title>" in page


def test_html_is_self_contained(incident) -> None:
    _answer, _md, page = written(incident)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<style>" in page
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\(|src=|https?://", page)
    assert page.count('class="fault verified"') == 2
    assert 'id="timeline"' in page and 'id="grid"' in page


def test_secrets_never_reach_markdown_or_html(incident) -> None:
    summary = json.loads((incident["runs"]["fix2"] / "summary.json").read_text())
    assert summary["extravars"]["registry_password"] == SECRET  # the record as given
    for lang in ("en", "zh"):
        answer, md, page = written(incident, "--lang", lang, "--since", "2026-12-01")
        for text in (md, page, json.dumps(answer),
                     (Path(answer["record"]) / "summary.json").read_text()):
            assert SECRET not in text
        assert "-e registry_password=********" in md
        assert "token=********" in md and "token=********" in page
        assert "-e nfs_allowed=10.77.40.0/24" in md  # not a secret: kept


@pytest.mark.parametrize(("text", "expected"), [
    ("registry_password=s3 ok", "registry_password=******** ok"),
    ('{"api_token": "s3", "x": 1}', '{"api_token": ********, "x": 1}'),
    ("--vault-password-file /root/.vault", "--vault-password-file ********"),
    ("ssh_key: /root/id", "ssh_key: ********"),
    ("no image matches '(^|/)pause:' (3 images)", "no image matches '(^|/)pause:' (3 images)"),
])
def test_redact_text(text, expected) -> None:
    assert redact_text(text) == expected


def test_command_of_a_recover_run_with_extravars() -> None:
    run = {"verb": "recover-mysql-backup", "customer": "acme", "limit": "n3",
           "tags": ["mysql-backup"], "extravars": {"kubemedic_record_dir": "/x",
                                                   "mysql_backup_dir": "/data/b",
                                                   "db_password": "pw"}}
    assert command_of(run) == ("kubemedic recover mysql-backup -c acme --limit n3 "
                               "-e db_password=******** -e mysql_backup_dir=/data/b")


def test_report_stores_its_record_with_covers(incident) -> None:
    answer, _md, _page = written(incident)
    summary = json.loads((Path(answer["record"]) / "summary.json").read_text())
    ids = sorted(p.name for p in incident["runs"].values())
    assert summary["verb"] == "report" and summary["rc"] == 0
    assert summary["covers"] == ids == answer["covers"]
    # the next report without --since/--runs covers what came after this one: nothing yet
    again = report(incident)
    assert again.exit_code == 2 and "after its last report" in again.output


def test_runs_and_since_select(incident) -> None:
    fix1, doctor2 = incident["runs"]["fix1"].name, incident["runs"]["doctor2"].name
    answer, _md, _page = written(incident, "--runs", f"{fix1},{doctor2}")
    assert answer["covers"] == [fix1, doctor2]
    assert answer["faults"] == []  # no doctor run saw a fault among these
    answer, _md, _page = written(incident, "--since", "2026-12-02T01:01")
    assert answer["covers"][0] == incident["runs"]["doctor1"].name
    assert len(answer["faults"]) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["-c", "nosuch"], "no inventory for customer 'nosuch'"),
    (["-c", "acme", "--since", "yesterday-ish"], "--since: 'yesterday-ish' is not a time"),
    (["-c", "acme", "--since", "2030-01-01"], "no runs of customer 'acme' since 2030-01-01"),
    (["-c", "acme", "--runs", "20990101T000000.000000Z-doctor"], "no such run(s)"),
    (["-c", "acme", "--since", "1h", "--runs", "x"], "exclude each other"),
    (["-c", "acme", "--lang", "fr"], "Invalid value for '--lang'"),
])
def test_bad_input_exits_2(incident, args, message) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(incident["state"]), "--inventory-dir",
                                      str(incident["inventories"]), "report", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_unwritable_output_exits_2(incident, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = report(incident, "-o", str(blocker / "sub"))
    assert result.exit_code == 2 and "cannot write the report there" in result.output
    assert "Traceback" not in result.output


def test_no_runs_for_a_known_customer(tmp_path) -> None:
    from tests.unit.report_records import write_inventory

    write_inventory(tmp_path / "inv")
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), "--inventory-dir",
                                      str(tmp_path / "inv"), "report", "-c", "acme"])
    assert result.exit_code == 2 and "no runs recorded for customer 'acme'" in result.output


def test_unverified_fault_is_a_leftover(tmp_path) -> None:
    from tests.unit.report_records import DAEMON_JSON, Recorder, write_inventory

    write_inventory(tmp_path / "inv")
    rec = Recorder(tmp_path / "state")
    rec.run("doctor", rc=5, doctor=[DAEMON_JSON])
    rec.run("recover-daemon-json", tags=["daemon-json"], limit="acme-node1", rc=3,
            hosts={"acme-node1": {"ok": 2, "failed": 1}})
    rec.run("doctor", rc=5, doctor=[DAEMON_JSON])
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), "--inventory-dir",
                                      str(tmp_path / "inv"), "report", "-c", "acme", "--json"])
    assert result.exit_code == 0, result.output
    md = Path(json.loads(result.output)["markdown"]).read_text()
    assert "not verified: no later doctor run came back without this finding" in md
    assert "still open on acme-node1" in md
    assert "exited 3 (failed/unreachable: acme-node1)" in md
    assert "**Time to repair**: none" in md
