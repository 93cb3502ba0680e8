"""Run a fuzz harness for a given time, or replay inputs through it.

  python tools/fuzz/run.py pci --seconds 600        # the .pci reader, load and predict
  python tools/fuzz/run.py keras --seconds 600      # the Keras readers and converter
  python tools/fuzz/run.py pci --replay crash-1234  # one input, with its traceback

Needs atheris (pip install ".[fuzz]"). New corpus entries go to --workdir
(default .fuzz/<harness>, not committed); the committed seeds in
tools/fuzz/corpus/<harness> are read, never written. A finding (crash, hang,
an exception that is not a PyconvinferError) stops the run, is saved as
<workdir>/artifacts/crash-* (or timeout-*, oom-*) and makes the exit status
non-zero. Prints the executions made."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS = {"pci": "pci_target.py", "keras": "keras_target.py"}


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["FUZZ_INSTRUMENT"] = "1"
    if list((ROOT / "pyconvinfer").glob("_kernels*.so")):  # an in-place build: use this tree's package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("harness", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=60, help="how long to fuzz (default 60)")
    ap.add_argument("--workdir", type=Path, default=None, help="corpus and artifacts (default .fuzz/<harness>)")
    ap.add_argument("--timeout", type=int, default=30, help="seconds one input may take before it is a hang")
    ap.add_argument("--rss-limit-mb", type=int, default=3072, help="memory one run may use before it is a finding")
    ap.add_argument("--replay", nargs="+", type=Path, help="run these inputs once each instead of fuzzing")
    ap.add_argument("--keep-going", action="store_true",
                    help="record each distinct exception in artifacts/finding-* and go on (for triage)")
    args = ap.parse_args(argv)

    target = HERE / TARGETS[args.harness]
    if args.replay:
        return subprocess.call([sys.executable, str(target), *map(str, args.replay)], env=_env())
    work = args.workdir or ROOT / ".fuzz" / args.harness
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    (work / "artifacts").mkdir(parents=True, exist_ok=True)
    seeds = HERE / "corpus" / args.harness
    cmd = [sys.executable, str(target), str(work / "corpus"), str(seeds),
           f"-max_total_time={args.seconds}", f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_limit_mb}",
           f"-artifact_prefix={work / 'artifacts'}/", "-print_final_stats=1", "-max_len=65536"]
    print("running:", " ".join(cmd), flush=True)
    env = _env()
    if args.keep_going:
        env["FUZZ_KEEP_GOING"] = str(work / "artifacts")
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    execs = rate = None
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        m = re.match(r"stat::(number_of_executed_units|average_exec_per_sec):\s*(\d+)", line)
        if m and m.group(1) == "number_of_executed_units":
            execs = int(m.group(2))
        elif m:
            rate = int(m.group(2))
    status = proc.wait()
    if args.keep_going and status == 0 and list((work / "artifacts").glob("finding-*.txt")):
        status = 1  # findings were recorded, not raised
    took = f"{execs / rate:.0f}" if execs and rate else "?"  # a finding ends the run early
    print(f"fuzz {args.harness}: {execs if execs is not None else '?'} executions in about {took} s "
          f"(of {args.seconds} s asked), "
          f"exit status {status}" + ("" if status == 0 else f" (finding: see {work / 'artifacts'})"), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
