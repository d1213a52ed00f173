"""The per-customer lock: kernel-held (released when its holder dies), the holder named, --wait
queues, read-only verbs never take it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemedic import errors, lock
from kubemedic.main import cli

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from kubemedic import lock
with lock.customer_lock("acme", "recover-docker-reinstall", state_dir=sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture()
def holder(tmp_path: Path):
    """A separate process holding acme's lock (as a running `recover` would)."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "state")],
                               stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO / "cli")})
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_second_run_is_refused_naming_the_holder(tmp_path: Path, holder) -> None:
    with pytest.raises(lock.LockedError) as caught, \
            lock.customer_lock("acme", "bootstrap", state_dir=str(tmp_path / "state")):
        pass
    message = caught.value.format_message()
    assert caught.value.exit_code == errors.EXIT_LOCKED == 7
    assert f"pid {holder.pid}" in message and "`recover-docker-reinstall`" in message
    assert f"{lock.getpass.getuser()}@{lock.socket.gethostname()}" in message
    assert "since 20" in message and "--wait" in message


def test_sigkill_of_the_holder_releases_the_lock(tmp_path: Path, holder) -> None:
    assert not lock.is_free("acme", str(tmp_path / "state"))
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock.is_free("acme", str(tmp_path / "state"))
    with lock.customer_lock("acme", "bootstrap", state_dir=str(tmp_path / "state")) as path:
        assert '"verb": "bootstrap"' in path.read_text()


def test_wait_queues_behind_the_holder(tmp_path: Path, holder) -> None:
    waiting = threading.Event()
    acquired = threading.Event()

    def second_run() -> None:
        with lock.customer_lock("acme", "bootstrap", state_dir=str(tmp_path / "state"),
                                wait=True, on_wait=lambda message: waiting.set()):
            acquired.set()

    thread = threading.Thread(target=second_run, daemon=True)
    thread.start()
    assert waiting.wait(60)
    assert not acquired.is_set()
    holder.terminate()
    holder.wait()
    thread.join(120)
    assert acquired.is_set()


def test_other_customers_are_not_blocked(tmp_path: Path, holder) -> None:
    with lock.customer_lock("other", "bootstrap", state_dir=str(tmp_path / "state")):
        assert not lock.is_free("other", str(tmp_path / "state"))
    assert lock.is_free("other", str(tmp_path / "state"))


def test_read_only_runs_never_take_it() -> None:
    assert not lock.needs_lock("doctor", check=False)
    assert not lock.needs_lock("ping", check=False)
    assert not lock.needs_lock("bootstrap", check=True)
    assert lock.needs_lock("recover-docker-reinstall", check=False)


def test_cli_refuses_a_mutating_run_and_still_answers_read_only_verbs(tmp_path: Path,
                                                                       holder) -> None:
    shutil.copytree(REPO / "inventories" / "example", tmp_path / "inv" / "acme")
    base = ["--inventory-dir", str(tmp_path / "inv"), "--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    busy = runner.invoke(cli, [*base, "recover", "inotify-limits", "-c", "acme"],
                         catch_exceptions=False)
    assert busy.exit_code == 7, busy.output
    assert "customer acme is busy" in busy.output and f"pid {holder.pid}" in busy.output
    assert not (tmp_path / "state" / "runs").exists()  # nothing ran, nothing recorded
    for args in (["inventory", "check", "acme"], ["history", "-c", "acme"]):
        assert runner.invoke(cli, [*base, *args], catch_exceptions=False).exit_code == 0
