"""Time to repair of each drilled recovery step, for the MTTR table (issue 14).

A drill calls `started = mttr.start()` when it injects the fault and
`mttr.record(step, node, faults, started)` once doctor is clean again: the seconds in between
are inject + doctor + `recover <step>` + doctor, what an operator on call would see. Nothing is
written unless $KUBEMEDIC_DRILL_TIMES names a file (benchmarks/drills and `make test` set it);
a drill that fails never reaches `record`, so a failed repair is never timed.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable

TIMES_ENV = "KUBEMEDIC_DRILL_TIMES"


def start() -> float:
    return time.monotonic()


def record(step: str, node: str, faults: Iterable[str], started: float | None, *,
           seconds: float | None = None, wave: int | str = "-", drill: str | None = None,
           check: str = "") -> float:
    """Append one drill's figure to $KUBEMEDIC_DRILL_TIMES (JSON lines); returns the seconds:
    since `started`, or `seconds` when the drill's phases are summed by the caller."""
    if seconds is None:
        assert started is not None, "record() needs started or seconds"
        seconds = time.monotonic() - started
    out = os.environ.get(TIMES_ENV)
    if out:
        # the test that recorded it (a step drilled by several tests: the figure names its own)
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        line = json.dumps({"wave": wave, "drill": drill or step, "node": node, "test": test,
                           "faults": list(faults), "check": check, "step": step,
                           "seconds": round(seconds, 1)}) + "\n"
        # several pytest workers append to the same file
        with open(out, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
    return seconds
