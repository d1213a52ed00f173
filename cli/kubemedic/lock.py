"""One mutating run per customer on this dev-box: `<state>/locks/<customer>.lock`.

The lock is the kernel's (flock on the open file), not the file's existence: a run that dies in
any way (SIGKILL, a crash, the dev-box suspending and the process being killed) releases it, so
there is no stale lock to clean up. Whoever holds it writes who they are into the file (user,
dev-box, verb, pid, since when) so that a refused run can say so.

Default: refuse at once (exit 7) naming the holder; `--wait` waits for it instead. Read-only
runs (doctor, ping, explain, history, inventory check, --check runs) never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubemedic import errors, paths

# Verbs that run playbooks but change nothing on a node.
READ_ONLY_VERBS = frozenset({"doctor", "ping"})
_POLL_SECONDS = 0.5


class LockedError(errors.KubemedicUsageError):
    """Another mutating run holds the customer: nothing was done."""

    exit_code = errors.EXIT_LOCKED


def lock_path(customer: str, state_dir: str | None = None) -> Path:
    return paths.state_dir(state_dir) / "locks" / f"{customer}.lock"


def holder(path: Path) -> dict[str, Any]:
    """Who holds (or last held) the lock, as its holder wrote it; {} when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict[str, Any]) -> str:
    if not info:
        return "another kubemedic run (its details are not readable)"
    return (f"{info.get('user', '?')}@{info.get('devbox', '?')} running "
            f"`{info.get('verb', '?')}` (pid {info.get('pid', '?')}) since "
            f"{info.get('since', '?')}")


def needs_lock(verb: str, check: bool) -> bool:
    return not check and verb not in READ_ONLY_VERBS


@contextlib.contextmanager
def customer_lock(customer: str, verb: str, *, state_dir: str | None = None,
                  wait: bool = False, on_wait: Any = None) -> Iterator[Path]:
    """Hold the customer's lock for the block. Refuses (LockedError) when another run holds it,
    or, with wait=True, waits for it (on_wait(message) is called once when waiting starts)."""
    path = lock_path(customer, state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = describe(holder(path))
                if not wait:
                    raise LockedError(
                        f"customer {customer} is busy: {who}; nothing was done. Wait for it "
                        "to finish, or re-run with --wait to queue behind it") from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for customer {customer}: {who}")
                    told = True
                time.sleep(_POLL_SECONDS)
        info = {"user": getpass.getuser(), "devbox": socket.gethostname(), "verb": verb,
                "pid": os.getpid(),
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def is_free(customer: str, state_dir: str | None = None) -> bool:
    """Whether no run holds the customer now (probed without waiting, released at once)."""
    path = lock_path(customer, state_dir)
    if not path.is_file():
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
