"""The README's list of supported layers is generated from the converter's
registries: it must be current, and every op and handler must be wired."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pyconvinfer import _kernels
from pyconvinfer.keras.layers import HANDLERS
from pyconvinfer.ops import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "tools" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_supported_list_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    assert _tool().render(text) == text, "README's supported list is stale: run python tools/update_readme.py"


def test_every_c_op_has_a_python_description_and_back() -> None:
    used = {d.c_op or d.name for d in REGISTRY.values() if not d.alias}
    assert used == set(_kernels.OP_IDS), f"C ops without an OpDef: {set(_kernels.OP_IDS) - used}"


def test_every_handler_is_callable() -> None:
    assert all(callable(h) for h in HANDLERS.values())
    assert "Conv2D" in HANDLERS and "TFOpLambda" in HANDLERS and "ops.Add" in HANDLERS
