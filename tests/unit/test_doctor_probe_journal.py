"""Doctor's probe reads each unit's journal only since the unit last started (within the window):
lines a unit logged before its restart (the repair) must not be matched again."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "kubemedic_doctor_probe.py"


@pytest.fixture
def probe(monkeypatch):
    spec = importlib.util.spec_from_file_location("kubemedic_doctor_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.shutil, "which", lambda name: "/usr/bin/" + name)
    return module


def fake_run(started: dict[str, str], calls: list[list[str]]):
    def run(args, timeout=20):
        calls.append(args)
        if args[0] == "systemctl":
            return 0, started.get(args[-1], "") + "\n", ""
        unit = args[args.index("-u") + 1]
        return 0, f"2026-11-23T01:00:00+0000 node {unit}[1]: line\n", ""
    return run


def since_of(calls: list[list[str]], unit: str) -> str:
    call = next(c for c in calls if c[0] == "journalctl" and c[c.index("-u") + 1] == unit)
    return call[call.index("--since") + 1]


def test_since_is_the_later_of_window_and_last_start(probe, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(probe, "_run", fake_run(
        {"docker": "@1700000500", "containerd": "@1600000000", "kubelet": ""}, calls))
    out = probe.journal(["docker", "containerd", "kubelet"], 1700000000, 100)
    assert since_of(calls, "docker") == "@1700000500"      # restarted inside the window
    assert since_of(calls, "containerd") == "@1700000000"  # running since before the window
    assert since_of(calls, "kubelet") == "@1700000000"     # never started: the window
    assert [line.split()[2] for line in out.splitlines()] == ["docker[1]:", "containerd[1]:",
                                                             "kubelet[1]:"]


def test_no_units_no_journal(probe, monkeypatch):
    monkeypatch.setattr(probe, "_run", lambda *a, **k: pytest.fail("nothing should run"))
    assert probe.journal([], 1700000000, 100) == ""


def test_container_log_lines_carry_the_pod_they_come_from(probe, tmp_path) -> None:
    """kubelet's /var/log/pods/<ns>_<pod>_<uid>/<container>/N.log and a docker json log whose
    container config has kubelet's labels name their pod; other logs name none. The origins'
    line numbers are those of the returned text, also after the cut to max_lines."""
    pods = tmp_path / "pods" / "default_nginx-7486bfbbcb-xcjnh_0f3a" / "nginx"
    pods.mkdir(parents=True)
    (pods / "0.log").write_text("a1\na2\n")
    docker = tmp_path / "containers" / "c0ffee"
    docker.mkdir(parents=True)
    (docker / "c0ffee-json.log").write_text('{"log":"d1\\n"}\n{"log":"d2\\n"}\n')
    (docker / "config.v2.json").write_text(json.dumps({"Config": {"Labels": {
        "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-1",
        "io.kubernetes.container.name": "app"}}}))
    plain = tmp_path / "containers" / "beef"
    plain.mkdir()
    (plain / "beef-json.log").write_text('{"log":"p1\\n"}\n')
    globs = [str(tmp_path / "pods/*/*/*.log"), str(tmp_path / "containers/*/*-json.log")]
    text, origins = probe.container_logs(globs, 600, 65536, 100)
    assert text.splitlines() == ["a1", "a2", "p1", "d1", "d2"]
    assert origins == [[1, "default/nginx-7486bfbbcb-xcjnh/nginx"], [3, ""], [4, "shop/web-1/app"]]
    text, origins = probe.container_logs(globs, 600, 65536, 2)
    assert (text.splitlines(), origins) == (["d1", "d2"], [[1, "shop/web-1/app"]])
