"""Rewrites the README's generated sections from the code: the supported
layers, activations and operator layers (pyconvinfer/keras/supported.py).
tests/test_supported.py fails when the README is out of date."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- supported:begin (generated from the converter's registries by tools/update_readme.py) -->"
END = "<!-- supported:end -->"


def render(text: str) -> str:
    from pyconvinfer.keras.supported import markdown

    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{README}: markers {BEGIN!r} / {END!r} not found")
    return pattern.sub(lambda _: f"{BEGIN}\n{markdown()}\n{END}", text)


def main() -> int:
    text = README.read_text()
    new = render(text)
    if new != text:
        README.write_text(new)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
