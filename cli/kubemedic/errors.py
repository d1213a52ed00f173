"""Exit codes and the errors that map to them (documented in docs/architecture.md)."""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_HOST_FAILED = 3
EXIT_UNREACHABLE = 4
EXIT_CRITICAL_FINDINGS = 5
EXIT_DECLINED = 6
EXIT_LOCKED = 7        # another mutating run holds the customer (kubemedic.lock)
EXIT_INTERRUPTED = 8   # SIGINT/SIGTERM: the record says what ran where (engine.interrupt)


class KubemedicUsageError(click.ClickException):
    """Bad input: printed without a traceback, exit code 2, nothing on any host touched."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class DeclinedError(click.ClickException):
    exit_code = EXIT_DECLINED

    def __init__(self, what: str) -> None:
        super().__init__(f"not confirmed, nothing done: {what}")
