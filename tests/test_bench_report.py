"""tools/bench_report.py's --merge: what a benchmark run keeps of the report it rewrites."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import bench_report  # noqa: E402


def _section(key: str, body: str) -> str:
    return f'<!-- section key="{key}" -->\n{body}\n<!-- end section -->\n'


def test_merge_keeps_other_sections_and_the_hand_written_notes() -> None:
    notes = "## A dated rerun\n\nNumbers a run does not regenerate.\n"
    old = ("# Benchmarks\n\n" + _section("cpu A | avx2", "old A") + "\n" + _section("cpu B | avx512", "old B")
           + "\n" + notes + "\n## Failures (latest run)\n\nNone.\n\n## Setup (latest run)\n\n- old\n")
    kept = bench_report.kept_sections(old, {"cpu A | avx2"})
    assert kept[0] == _section("cpu B | avx512", "old B")
    assert kept[1].strip() == notes.strip()
    assert len(kept) == 2 and not any("old A" in k or "Setup" in k or "Failures" in k for k in kept)


def test_merge_keeps_the_notes_of_the_committed_report() -> None:
    doc = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    kept = "".join(bench_report.kept_sections(doc, set()))
    assert "## Stored weight precision: VGG16 (issue 10)" in kept
    assert "## Failures (latest run)" not in kept
