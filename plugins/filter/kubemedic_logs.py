"""Filters for log handling: the tail of a log kept in the run record, bounded by bytes.

`recover disk-cleanup` keeps the end of every container log it truncates. Reading it by lines
(`tail -n`) has no bound: a log without newlines (a process writing one endless line) made tail
read 600 MB (issue 14). The task reads at most a byte budget (`tail -c`); this filter cuts what it
read to whole lines inside that budget.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean


def log_tail(text: Any, cut: Any, lines: Any) -> str:
    """The last `lines` whole lines of `text`, the last bytes of a log read with `tail -c`.

    `cut` says the log was longer than the budget, so the first line read is partial: it is
    dropped when a whole line follows it. A chunk without any newline is all there is: it is
    kept as it is. Nothing is added: the result is never longer than what was read.
    """
    text = str(text or "")
    if boolean(cut, strict=False) and "\n" in text.rstrip("\n"):
        text = text.split("\n", 1)[1]
    kept = text.splitlines()[-int(lines):] if int(lines) > 0 else []
    return "\n".join(kept) + ("\n" if kept and text.endswith("\n") else "")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kubemedic_log_tail": log_tail}
