"""The fault-injection suite's report: what it tried and what it found, printed at the end.
`NGP_KILL_TRIALS=100 python -m pytest tests/reliability` is the longer mode."""

from __future__ import annotations

from collections import Counter

REPORT: Counter[str] = Counter()
ORDER = ("trials run", "kills survived", "faults injected", "duplicates found", "orphans found",
         "locks contended", "bad inputs tried", "secrets leaked")


def found(expected: dict[str, int], got: dict[str, int], owned: set[str],
          recorded: set[str]) -> None:
    """Count what a trial left wrong: objects beyond the clean run's, objects not in the
    state. Called before the test asserts, so a failing trial is counted too."""
    REPORT["duplicates found"] += sum(max(0, got.get(k, 0) - n) for k, n in expected.items())
    REPORT["orphans found"] += len(owned - recorded)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not REPORT:
        return
    terminalreporter.section("fault-injection report")
    for key in ORDER:
        terminalreporter.write_line(f"{key:>18}: {REPORT[key]}")
