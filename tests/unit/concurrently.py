"""Run callables at the same time, as concurrent `lab up` / build calls do (for lock tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_at_once(calls: list[Callable[[], Any]], timeout: float = 30) -> list[Any]:
    """Each call in its own thread, all started before any is joined; their results."""
    results: list[Any] = []
    threads = [threading.Thread(target=lambda c=call: results.append(c())) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
