"""Train the small LeNet-5 shipped in ``pyconvinfer/data/`` (maintainer script).

Not installed with the package; run it only to regenerate the shipped files.

What it does
------------
1. Loads scikit-learn's bundled 8x8 handwritten digits
   (``sklearn.datasets.load_digits``: 1797 images, no download), scales pixels
   from 0..16 to [0, 1] (divide by 16) and upscales each image to 32x32 by
   nearest-neighbour repetition (``np.kron`` with a 4x4 block of ones: every
   source pixel becomes a 4x4 block). Images are float32, shape (N, 32, 32, 1).
2. Splits train / held-out with
   ``train_test_split(test_size=0.25, random_state=0, stratify=y)``
   (1347 train, 450 held-out).
3. Builds LeNet-5 with the Keras Functional API: model name ``lenet5``, layers
   ``input, conv1, pool1, conv2, pool2, flatten, fc1, fc2, predictions``,
   valid padding, default strides. The converter's built-in ``--arch lenet5``
   reproduces this topology.
4. Trains with fixed seeds (``keras.utils.set_random_seed(0)``, NumPy
   ``default_rng(0)``), Adam (lr 1e-3, cosine decay to 0), sparse categorical
   cross-entropy, batch 32, 40 epochs. Each epoch sees every training image
   shifted by a fresh random (dy, dx) in [-2, 2] pixels with zero fill (without
   it the model overfits: ~96.7 % held-out). Exits with status 1 if held-out
   accuracy < 97 %.
5. Writes into ``pyconvinfer/data/``:

   - ``lenet5_digits.h5``: full model, legacy HDF5, without optimizer state;
   - ``digits_test_x.npy``: held-out images, float32 (N, 32, 32, 1);
   - ``digits_test_y.npy``: held-out labels, int64 (N,);
   - ``digits_test_keras_probs.npy``: Keras's float32 softmax output (N, 10);
   - ``lenet5_digits.json``: versions, accuracy, how the data were prepared.

   The accuracy in the JSON comes from ``model.predict`` on exactly the saved
   ``.npy`` images (re-read from disk), so tests can compare against Keras.
6. Prints the held-out accuracy.

What it needs
-------------
TensorFlow (CPU) with Keras 3, scikit-learn, h5py and NumPy, e.g. the maintainer
venv ``/work/venv-tf``. It runs in well under a minute on a CPU.

How to run it (from the repository root)
----------------------------------------
    /work/venv-tf/bin/python tools/train_lenet5.py

Training is seeded, but the weights may differ in the last bits across
TensorFlow versions, CPUs or thread counts; the shipped files are whatever the
last run produced (the JSON records the versions).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

DATA_DIR = Path(__file__).resolve().parent.parent / "pyconvinfer" / "data"
UPSCALE = "nearest: np.kron(img / 16, ones((4, 4))), 8x8 -> 32x32, float32 in [0, 1]"
SPLIT = "sklearn train_test_split(test_size=0.25, random_state=0, stratify=y)"
MIN_ACCURACY = 0.97
SEED = 0
EPOCHS = 40
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
MAX_SHIFT = 2  # pixels, on the 32x32 image
TRAINING = (
    f"Adam, lr {LEARNING_RATE} cosine-decayed to 0, batch {BATCH_SIZE}, "
    f"{{epochs}} epochs, seed {SEED}; each epoch every training image is shifted "
    f"by a random (dy, dx) in [-{MAX_SHIFT}, {MAX_SHIFT}] px, zero fill"
)


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """Return the digits as (N, 32, 32, 1) float32 images in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / np.float32(16.0)  # (N, 8, 8)
    block = np.ones((4, 4), dtype=np.float32)
    big = np.stack([np.kron(img, block) for img in images]).astype(np.float32)
    return big[..., np.newaxis], digits.target.astype(np.int64)


def split_data(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic stratified split: x_train, x_test, y_train, y_test."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return (
        np.ascontiguousarray(x_train, dtype=np.float32),
        np.ascontiguousarray(x_test, dtype=np.float32),
        np.ascontiguousarray(y_train, dtype=np.int64),
        np.ascontiguousarray(y_test, dtype=np.int64),
    )


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each (H, W, C) image by a random (dy, dx) in [-max_shift, max_shift].

    Pixels shifted in are zero (the background). Training-time augmentation only.
    """
    s = max_shift
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)))
    offsets = rng.integers(0, 2 * s + 1, size=(n, 2))
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, dy : dy + h, dx : dx + w]
    return out


def build_lenet5() -> keras.Model:
    """LeNet-5 exactly as the converter's built-in ``lenet5`` describes it."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 1), name="input")
    x = layers.Conv2D(6, (5, 5), activation="relu", name="conv1")(inputs)
    x = layers.AveragePooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(16, (5, 5), activation="relu", name="conv2")(x)
    x = layers.AveragePooling2D((2, 2), name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="relu", name="fc1")(x)
    x = layers.Dense(84, activation="relu", name="fc2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs",
        type=int,
        default=EPOCHS,
        help=f"training epochs (default {EPOCHS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DATA_DIR,
        help=f"output directory (default {DATA_DIR})",
    )
    args = parser.parse_args(argv)

    # CPU only, quiet TensorFlow; must be set before TensorFlow is imported.
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)

    x, y = load_data()
    x_train, x_test, y_train, y_test = split_data(x, y)

    model = build_lenet5()
    steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=args.epochs * steps_per_epoch
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Plain training overfits (100 % train, ~96.7 % held-out); small random shifts,
    # drawn afresh every epoch, and a decaying learning rate bring it to ~99 %.
    rng = np.random.default_rng(SEED)
    for epoch in range(args.epochs):
        model.fit(
            random_shift(x_train, MAX_SHIFT, rng),
            y_train,
            batch_size=BATCH_SIZE,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=True,
            verbose=2,
        )

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    x_path = out / "digits_test_x.npy"
    y_path = out / "digits_test_y.npy"
    np.save(x_path, x_test)
    np.save(y_path, y_test)
    # Legacy full-model HDF5 (model_config + model_weights); no optimizer state.
    model.save(out / "lenet5_digits.h5", include_optimizer=False)

    # Score exactly what was written to disk.
    x_saved = np.load(x_path)
    y_saved = np.load(y_path)
    probs = np.asarray(model.predict(x_saved, batch_size=128, verbose=0), dtype=np.float32)
    np.save(out / "digits_test_keras_probs.npy", probs)
    correct = int(np.sum(np.argmax(probs, axis=1) == y_saved))
    accuracy = correct / len(y_saved)

    meta = {
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "n_test": len(y_saved),
        "keras_accuracy": accuracy,
        "keras_correct": correct,
        "upscale": UPSCALE,
        "split": SPLIT,
        "architecture": "lenet5",
        "training": TRAINING.format(epochs=args.epochs),
    }
    (out / "lenet5_digits.json").write_text(json.dumps(meta, indent=2) + "\n")

    print(f"held-out accuracy: {accuracy:.4f} ({correct}/{len(y_saved)})")
    if accuracy < MIN_ACCURACY:
        print(f"error: accuracy below {MIN_ACCURACY:.2f}; train longer (--epochs)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
