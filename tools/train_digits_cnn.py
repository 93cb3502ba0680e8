"""Train the deeper digits CNN the reduced-precision tests use (maintainer script).

Not installed; run it only to regenerate tests/fixtures/precision/. It needs
TensorFlow (CPU) with Keras 3 and scikit-learn, e.g. /work/tfvenv:

    /work/tfvenv/bin/python tools/train_digits_cnn.py

Data: scikit-learn's bundled 8x8 digits upscaled to 32x32 and split exactly as
the bundled LeNet-5's (tools/train_lenet5.py: same functions), so its held-out
set is pyconvinfer/data/digits_test_x.npy / digits_test_y.npy.

Model (Functional, ~100k parameters): four 3x3 convolutions with batch
normalisation, a depthwise-separable block (DepthwiseConv2D + 1x1 conv), max
pooling, global average pooling and two dense layers: every kernel kind the
converter stores in reduced precision (direct, Winograd-eligible 3x3,
depthwise, 1x1, dense). Trained with the LeNet-5 script's seeds, shifts and
schedule; exits 1 below 97 % held-out accuracy.

Writes tests/fixtures/precision/digits_cnn.keras and digits_cnn_keras_probs.npy
(Keras's own float32 outputs on the held-out set) and digits_cnn.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_lenet5 as lenet  # noqa: E402  (the shared data preparation)

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "precision"
EPOCHS = 30


def build(keras):
    L = keras.layers
    x = inp = keras.Input((32, 32, 1), name="image")
    for i, filters in enumerate((16, 32)):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = L.BatchNormalization(name=f"bn{i + 1}")(x)
        x = L.Activation("relu", name=f"relu{i + 1}")(x)
    x = L.MaxPooling2D(name="pool1")(x)  # 16x16
    x = L.Conv2D(48, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw4")(x)
    x = L.BatchNormalization(name="bn4")(x)
    x = L.ReLU(6.0, name="relu4")(x)
    x = L.Conv2D(64, 1, name="pw4")(x)
    x = L.MaxPooling2D(name="pool2")(x)  # 8x8
    x = L.Conv2D(96, 3, padding="same", activation="relu", name="conv5")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(64, activation="relu", name="fc1")(x)
    out = L.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="digits_cnn")


def main() -> int:
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(lenet.SEED)
    x, y = lenet.load_data()
    x_train, x_test, y_train, y_test = lenet.split_data(x, y)
    model = build(keras)
    steps = -(-len(x_train) // lenet.BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(lenet.LEARNING_RATE, decay_steps=EPOCHS * steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(lenet.SEED)
    for epoch in range(EPOCHS):
        model.fit(lenet.random_shift(x_train, lenet.MAX_SHIFT, rng), y_train, batch_size=lenet.BATCH_SIZE,
                  epochs=epoch + 1, initial_epoch=epoch, shuffle=True, verbose=2)
    shipped = Path(lenet.DATA_DIR)
    x_saved, y_saved = np.load(shipped / "digits_test_x.npy"), np.load(shipped / "digits_test_y.npy")
    if not (np.array_equal(x_saved, x_test) and np.array_equal(y_saved, y_test)):
        print("the held-out split differs from pyconvinfer/data's", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    # an uncompiled copy: the file then holds no optimizer state (a third of the size)
    plain = keras.Model.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.save(OUT / "digits_cnn.keras")
    probs = np.asarray(model.predict(x_saved, batch_size=128, verbose=0), dtype=np.float32)
    np.save(OUT / "digits_cnn_keras_probs.npy", probs)
    acc = float(np.mean(np.argmax(probs, axis=1) == y_saved))
    info = {"keras_version": keras.__version__, "params": int(model.count_params()), "epochs": EPOCHS,
            "held_out_accuracy": acc, "n_test": int(len(y_saved)), "data": lenet.UPSCALE, "split": lenet.SPLIT}
    (OUT / "digits_cnn.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"held-out accuracy {acc:.4f}, {model.count_params()} parameters")
    return 0 if acc >= lenet.MIN_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
