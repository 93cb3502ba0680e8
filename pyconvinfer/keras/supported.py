"""What the converter accepts, read from its registries (the README's list is
generated from here by tools/update_readme.py and checked by a test, so the
two cannot drift)."""

from __future__ import annotations

from .. import activations as acts
from .layers import HANDLERS
from .layers.operators import _K3_OPS, _TF_FUNCTIONS

# Keras names that exist only for old files or as aliases of a listed class
_ALIASES = {"Convolution2D", "Convolution2DTranspose", "Deconvolution2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D",
            "GlobalMaxPool2D", "SeparableConvolution2D", "Convolution1D", "MaxPool1D", "AvgPool1D", "GlobalMaxPool1D",
            "GlobalAvgPool1D", "__Identity__"}


def layer_classes() -> list[str]:
    return sorted({c for c in HANDLERS if not c.startswith("ops.") and c not in _ALIASES
                   and c not in ("TFOpLambda", "SlicingOpLambda")} | {"InputLayer"})


def operations() -> tuple[list[str], list[str]]:
    """(Keras 3 keras.ops operations, tf.keras TFOpLambda functions)."""
    return sorted(_K3_OPS), sorted(_TF_FUNCTIONS)


def activation_names() -> list[str]:
    return sorted(set(acts.KINDS) | set(acts.ALIASES) | {"relu6", "leaky_relu"})


def markdown() -> str:
    """The README's "What is supported" list."""
    k3, tf = operations()
    return "\n".join([
        "Layers (Keras 2 and Keras 3 names): " + ", ".join(layer_classes()) + ".",
        "",
        "Activations (as `Activation(...)` and as `activation=`): " + ", ".join(activation_names()) + ".",
        "",
        "Operator layers: Keras 3 `keras.ops` " + ", ".join(k3) + "; tf.keras `TFOpLambda`/`SlicingOpLambda` "
        + ", ".join(f"`{f}`" for f in tf) + ".",
    ])
