"""Capture the keras.applications fixtures of tests/test_applications.py.

Maintainer script; needs TensorFlow, Keras 3 and tf-keras (not test dependencies):

    CUDA_VISIBLE_DEVICES=-1 /work/tfvenv/bin/python tools/capture_applications.py [--models A,B]

For each model of ``tests/applications_files.MODELS`` and each Keras generation (each in
its own process), it builds ``keras.applications.<Model>(weights=None, input_shape=(96, 96, 3),
classifier_activation=None)``, saves it in every format that generation writes
(Keras 3: ``.h5``, ``.keras``, ``.weights.h5``; tf.keras: ``.h5``, weights-only ``.h5``) and
records each file's structure as a gzipped layout under ``tests/fixtures/applications/<Model>/``
with ``tools/capture_vgg16_layout.py``'s machinery (creation order from recorded h5py calls,
the dataset -> (layer, weight index) map measured by tagging every variable). Weights-only
layouts also carry ``model.to_json()`` as ``architecture_json``.

Then it checks the whole chain a test relies on: it sets the seeded weights
(``applications_files.layer_weights``) on the in-memory model and computes Keras's output
for ``model_input``; it rebuilds every file kind from its layout with those seeded weights
(``applications_files.write_app_file``, exactly as the tests do), loads each one back in
Keras (``load_model``, or ``model_from_json`` + ``load_weights``) and requires the same
output. That output is stored as ``<generation>_output.npy``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

import applications_files as af  # noqa: E402
import capture_vgg16_layout as cap  # noqa: E402

SCRIPT = "tools/capture_applications.py"
#: (kind, save call) per generation; the file names are the suggested ones of the layouts.
JOBS = {
    "keras3": [("keras3_full.h5", "save", ".h5"), ("keras3.keras", "save", ".keras"),
               ("keras3.weights.h5", "save_weights", ".weights.h5")],
    "keras2": [("keras2_full.h5", "save", ".h5"), ("keras2_weights.h5", "save_weights", "_weights.h5")],
}
#: Keras's outputs for the same weights must agree this closely between the file kinds.
SAME_OUTPUT_RTOL = 1e-6


def _import_keras(flavour: str) -> tuple[Any, dict[str, Any]]:
    """(keras module, custom_objects for loading this flavour's applications files)."""
    if flavour == "keras2":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
        from tf_keras.src.applications.convnext import LayerScale
    else:
        import keras
        from keras.src.applications.convnext import LayerScale
    return keras, {"LayerScale": LayerScale}


def _build(keras: Any, spec: af.AppSpec) -> Any:
    keras.backend.clear_session()  # auto-generated layer names restart: stable layouts
    return getattr(keras.applications, spec.name)(
        weights=None, input_shape=(spec.size, spec.size, 3), classifier_activation=None)


def _model_info(model: Any, spec: af.AppSpec, layers: list[dict[str, Any]]) -> dict[str, Any]:
    for entry, layer in zip(layers, model.layers):
        for w, var in zip(entry["weights"], layer.weights):
            w["dtype"] = np.dtype(getattr(var.dtype, "as_numpy_dtype", var.dtype)).str
    return {
        "builder": spec.builder,
        "input_shape": list(model.input_shape[1:]),
        "output_shape": list(model.output_shape[1:]),
        "input_range": list(spec.input_range),
        "layers": layers,
    }


def _reload_error(keras: Any, custom: dict[str, Any], path: Path) -> str | None:
    """Why Keras cannot ``load_model`` a file it wrote itself, or None when it can."""
    try:
        keras.models.load_model(str(path), custom_objects=custom, compile=False)
    except (ValueError, TypeError) as e:
        # Keras 3.15's legacy .h5 loader cannot replay operator layers: MobileNetV3's x + 3.0
        # (ValueError), ConvNeXt's x + y (TypeError)
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return None


def _capture(keras: Any, custom: dict[str, Any], flavour: str, spec: af.AppSpec, model: Any, tmp: Path,
             versions: dict[str, str]) -> dict[str, dict]:
    """Save every kind, return ``{kind: layout}`` (tags are left in the model's weights)."""
    tags, layers = cap._tag_model(model)
    info = _model_info(model, spec, layers)
    layouts = {}
    for kind, call, suffix in JOBS[flavour]:
        path = tmp / f"{spec.name}{suffix}"
        with cap.vf.record_h5_creation() as log:
            getattr(model, call)(str(path))
        how = f"model.{call}({path.name!r}) with {flavour} on {spec.builder}"
        if kind.endswith(".keras"):
            layout = cap._layout(kind, path.name, how, info, versions, zip=cap._capture_zip(path, log, tags))
        else:
            layout = cap._layout(kind, path.name, how, info, versions, hdf5=cap._capture_h5(path, log, tags))
        layout["provenance"]["script"] = SCRIPT
        if call == "save_weights":
            layout["architecture_json"] = model.to_json()
        cap.check_roundtrip(layout, path)  # the test writer reproduces the Keras file exactly
        if call == "save":
            layout["provenance"]["keras_reloads_own_file"] = _reload_error(keras, custom, path) or True
        path.unlink()
        layouts[kind] = layout
    return layouts


def _load(keras: Any, custom: dict[str, Any], spec: af.AppSpec, layout: dict[str, Any], path: Path,
          config: Path | None) -> tuple[Any, str]:
    """The model Keras reads from a rebuilt file, and how it was read."""
    if config is not None:
        model = keras.models.model_from_json(config.read_text(encoding="utf-8"), custom_objects=custom)
        model.load_weights(str(path))
        return model, "model_from_json + load_weights"
    own = layout["provenance"]["keras_reloads_own_file"]
    if own is True:
        return keras.models.load_model(str(path), custom_objects=custom, compile=False), "load_model"
    # Keras cannot read its own original file either: check the weights on a fresh model
    model = _build(keras, spec)
    model.load_weights(str(path))
    return model, f"load_weights into a fresh model; load_model fails on Keras's own file too ({own})"


def _check_output(y: np.ndarray, want: np.ndarray, what: str) -> None:
    err = float(np.max(np.abs(y.astype(np.float64) - want)) / max(1.0, float(np.max(np.abs(want)))))
    if err > SAME_OUTPUT_RTOL:
        raise AssertionError(f"{what}: Keras output from the rebuilt file differs by {err:.3g}")


def capture_model(flavour: str, spec: af.AppSpec, out_dir: Path) -> None:
    keras, custom = _import_keras(flavour)
    versions = cap._versions(keras)
    versions["flavour"] = flavour
    model = _build(keras, spec)
    dest = out_dir / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    x = af.model_input(spec)
    with tempfile.TemporaryDirectory() as tmp:
        layouts = _capture(keras, custom, flavour, spec, model, Path(tmp), versions)
        any_layout = next(iter(layouts.values()))
        seeded = af.layer_weights(any_layout)
        for layer in model.layers:
            if layer.name in seeded:
                layer.set_weights(seeded[layer.name])
                # Normalization caches its broadcast mean/variance: Keras refreshes them after
                # loading a file, but not after set_weights
                if callable(getattr(layer, "finalize_state", None)):
                    layer.finalize_state()
        want = np.asarray(model.predict(x, verbose=0), dtype=np.float32)
        if not np.all(np.isfinite(want)) or float(np.std(want)) < 1e-3:
            raise AssertionError(f"{spec.name} {flavour}: degenerate output (std {np.std(want):.3g})")
        for kind, layout in layouts.items():
            path, config = af.write_app_file(spec, kind, tmp, layout=layout)
            loaded, how = _load(keras, custom, spec, layout, path, config)
            _check_output(np.asarray(loaded.predict(x, verbose=0)), want, f"{spec.name} {kind}")
            layout["provenance"]["keras_check"] = (
                f"rebuilt with seeded weights, read back by Keras ({how}): same output")
            path.unlink()
            body = (json.dumps(layout, separators=(",", ":")) + "\n").encode("utf-8")
            (dest / af.layout_file(spec, kind).name).write_bytes(gzip.compress(body, 9, mtime=0))
    np.save(dest / f"{flavour}_output.npy", want)
    print(f"{spec.name} {flavour}: {', '.join(layouts)} ok; output {want.shape} max|y| {np.abs(want).max():.3g} "
          f"std {want.std():.3g}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=af.APPS_DIR)
    parser.add_argument("--models", default=",".join(af.MODELS), help="comma-separated keras.applications names")
    parser.add_argument("--flavours", default="keras3,keras2")
    parser.add_argument("--worker", nargs=2, metavar=("FLAVOUR", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        capture_model(args.worker[0], af.MODELS[args.worker[1]], args.out)
        return 0
    for name in args.models.split(","):
        if name not in af.MODELS:
            parser.error(f"unknown model {name!r}; known: {', '.join(af.MODELS)}")
        for flavour in args.flavours.split(","):
            env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2")
            env.pop("TF_USE_LEGACY_KERAS", None)
            cmd = [sys.executable, __file__, "--worker", flavour, name, "--out", str(args.out)]
            subprocess.run(cmd, check=True, env=env)  # noqa: S603
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
