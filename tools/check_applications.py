"""Maintainer check of the keras.applications models that tests/test_applications.py does
not carry as fixtures: build each with weights=None and seeded weights, save it as Keras
does (Keras 3: .h5 and .keras; tf.keras: .h5), convert, compare with Keras's own output.

    python tools/check_applications.py keras3 [Model ...]   # needs TensorFlow + Keras 3
    python tools/check_applications.py keras2 [Model ...]   # needs tf-keras
"""
import os
import sys

gen = sys.argv[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
if gen == "keras2":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras as keras  # noqa: E402
else:
    import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyconvinfer  # noqa: E402

A = keras.applications
models = {"MobileNetV3Large": A.MobileNetV3Large, "EfficientNetV2B0": A.EfficientNetV2B0, "ResNet50": A.ResNet50,
          "ResNet50V2": A.ResNet50V2, "DenseNet121": A.DenseNet121, "InceptionV3": A.InceptionV3, "VGG19": A.VGG19,
          "MobileNet": A.MobileNet}
for name in sys.argv[2:] or models:
    size = 96
    kw = dict(weights=None, input_shape=(size, size, 3), classes=10)
    try:
        m = models[name](classifier_activation=None, **kw)
    except TypeError:
        m = models[name](**kw)
    rng = np.random.default_rng(0)
    def seeded(w: np.ndarray, var, rng: np.random.Generator = rng) -> np.ndarray:
        """Fan-in scaled normal weights; moving variances near 1 so batch norm stays sane."""
        is_var = "variance" in getattr(var, "path", getattr(var, "name", ""))
        if w.ndim > 1:
            return rng.standard_normal(w.shape).astype("float32") * (0.5 / np.sqrt(np.prod(w.shape[:-1])))
        return (rng.standard_normal(w.shape) * 0.1 + (1.0 if is_var else 0.0)).astype("float32")

    m.set_weights([seeded(w, v) for w, v in zip(m.get_weights(), m.weights)])
    for lay in m.layers:
        if hasattr(lay, "finalize_state"):
            lay.finalize_state()
    x = rng.standard_normal((2, size, size, 3)).astype("float32") * 50 + 100
    want = m.predict(x, verbose=0)
    for fmt in (["model.h5", "model.keras"] if gen == "keras3" else ["model.h5"]):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"{gen}_{name}_{fmt}")
        m.save(path)
        out = pyconvinfer.convert(path, path + ".pci", verify=False)
        got = pyconvinfer.load(out).predict(x)
        err = float(np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want))))
        print(f"{gen} {name} {fmt}: max error {err:.2e} {'OK' if err <= 1e-4 else 'FAIL'}", flush=True)
        os.unlink(path)
        os.unlink(out)
