"""What both harnesses share: the triage wrapper behind run.py --keep-going."""

from __future__ import annotations

import contextlib
import hashlib
import os
import traceback
from typing import Any, Callable


def keep_going(test: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """With FUZZ_KEEP_GOING=<dir> set (run.py --keep-going), an exception does not
    stop the run: the input is saved once per distinct (type, raising line) as
    <dir>/finding-<hash> with its traceback next to it, and fuzzing goes on. For
    triage only: a plain run stops at the first finding, as libFuzzer does."""
    out = os.environ.get("FUZZ_KEEP_GOING")
    if not out:
        return test
    seen: set[str] = set()

    def wrapped(data: bytes) -> None:
        try:
            test(data)
        except Exception as e:  # noqa: BLE001 - recording every kind is the point
            tb = traceback.extract_tb(e.__traceback__)
            where = f"{type(e).__name__}@{tb[-1].filename}:{tb[-1].lineno}" if tb else type(e).__name__
            if where in seen:
                return
            seen.add(where)
            name = hashlib.sha1(where.encode()).hexdigest()[:12]
            with open(os.path.join(out, f"finding-{name}"), "wb") as f:
                f.write(data)
            with open(os.path.join(out, f"finding-{name}.txt"), "w") as f:
                f.write(where + "\n" + "".join(traceback.format_exception(e)))
            print(f"FINDING {where}", flush=True)

    return wrapped


def instrumented() -> Any:
    """Context for the harness's imports of pyconvinfer: when fuzzing (atheris
    present and FUZZ_INSTRUMENT set by run.py), the package's Python code reports
    coverage. Only pyconvinfer: instrumenting numpy and h5py as well
    (atheris.instrument_all) costs minutes at start-up and slows every run."""
    if os.environ.get("FUZZ_INSTRUMENT") != "1":
        return contextlib.nullcontext()
    import atheris

    return atheris.instrument_imports(include=["pyconvinfer"])


def limit_memory(gib: float = 2.0) -> None:
    """Cap the address space while fuzzing: an input that makes the library allocate
    gigabytes then fails at once with MemoryError, which the harness reports unless
    the library turned it into its own error (libFuzzer's -rss_limit_mb only sees the
    peak after the fact, and a big allocation that succeeds just slows every run)."""
    import resource

    limit = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def fuzz_main(test: Callable[[bytes], None], mutator: Callable[[bytes, int, int], bytes]) -> None:
    """Run a harness under atheris: the memory cap, keep_going's bookkeeping, the custom
    mutator. (pyconvinfer's Python code is instrumented at import; C coverage would need
    a -fsanitize=fuzzer build of the extension.)"""
    import sys

    import atheris

    limit_memory()
    atheris.Setup(sys.argv, keep_going(test), custom_mutator=mutator)
    atheris.Fuzz()
