"""Real Keras files whose weights and architecture do not belong together
(tests/test_weight_agreement.py). Needs TensorFlow + tf-keras; run from the
repository root: python tools/make_weight_mismatch_fixtures.py"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "weight_mismatch"

KERAS3 = r'''
import json, sys
import keras
out = sys.argv[1]
keras.utils.set_random_seed(0)
def conv(name="conv", filters=4):
    i = keras.Input((8, 8, 3), name="x")
    y = keras.layers.Conv2D(filters, 3, name=name)(i)
    y = keras.layers.MaxPooling2D(name="pool")(y)
    return keras.Model(i, y, name="m")
conv().save_weights(f"{out}/keras3_conv.weights.h5")
i = keras.Input((8, 8, 3), name="x")
pool_only = keras.Model(i, keras.layers.MaxPooling2D(name="pool")(i), name="m")
open(f"{out}/keras3_pool_only.json", "w").write(pool_only.to_json())
i = keras.Input((8, 8, 3), name="x")
y = keras.layers.Conv2D(4, 3, name="conv")(i)
y = keras.layers.MaxPooling2D(name="pool")(y)
y = keras.layers.Flatten()(y)
y = keras.layers.Dense(2, name="extra")(y)
open(f"{out}/keras3_conv_plus_dense.json", "w").write(keras.Model(i, y, name="m").to_json())
open(f"{out}/keras3_conv8.json", "w").write(conv(filters=8).to_json())
'''

KERAS2 = r'''
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tf_keras as keras
import numpy as np
out = sys.argv[1]
def model(a, b):
    i = keras.Input((8, 8, 3), name="x")
    y = keras.layers.Conv2D(4, 3, name=a)(i)
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(2, name=b)(y)
    return keras.Model(i, y, name="m")
m = model("conv_a", "dense_a")
m.save_weights(f"{out}/keras2_weights.h5")
x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
np.save(f"{out}/keras2_input.npy", x)
np.save(f"{out}/keras2_output.npy", m.predict(x, verbose=0))
open(f"{out}/keras2_renamed.json", "w").write(model("conv_b", "dense_b").to_json())
m.save(f"{out}/keras2_full.h5")
'''


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    for script in (KERAS3, KERAS2):
        subprocess.run([sys.executable, "-c", script, str(OUT)], check=True, env=env)
    print(json.dumps(sorted(p.name for p in OUT.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
