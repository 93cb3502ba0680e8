"""Shared pytest setup: the conformance error table printed at the end."""

from __future__ import annotations

CONFORMANCE_ERRORS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if not CONFORMANCE_ERRORS:
        return
    terminalreporter.section("Keras conformance: max |error| / max(1, max|y|) per fixture and format")
    for key in sorted(CONFORMANCE_ERRORS):
        terminalreporter.write_line(f"{key:<60} {CONFORMANCE_ERRORS[key]:.2e}")
