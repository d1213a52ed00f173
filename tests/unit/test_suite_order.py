"""The longest-first order `make test` hands to pytest-xdist (tests/conftest.py LONGEST_FIRST)
names modules that exist: a renamed module would otherwise lose its place silently and could
end up as the last, lone job of CI's run."""

from __future__ import annotations

from tests.conftest import LONGEST_FIRST, REPO


def test_every_module_in_the_order_exists() -> None:
    missing = [module for module in LONGEST_FIRST if not (REPO / "tests" / module).is_file()]
    assert missing == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_every_lab_module_is_placed() -> None:
    """A new lab module takes minutes: it belongs in the order (by its measured time)."""
    placed = set(LONGEST_FIRST)
    lab_modules = sorted(
        path.relative_to(REPO / "tests").as_posix()
        for folder in ("integration", "molecule") for path in (REPO / "tests" / folder).glob("test_*.py")
        if "lab_factory" in path.read_text() or folder == "molecule")
    assert [module for module in lab_modules if module not in placed] == []
