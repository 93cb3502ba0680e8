"""Data shipped with pyconvinfer: a small LeNet-5 trained on scikit-learn's digits.

- ``lenet5_digits.h5``: the Keras 3 model (legacy full-model HDF5, no optimizer state).
- ``digits_test_x.npy`` / ``digits_test_y.npy``: the 450 held-out images, float32
  (N, 32, 32, 1) in [0, 1], and their int64 labels.
- ``digits_test_keras_probs.npy``: Keras's float32 softmax output on those images.
- ``lenet5_digits.json``: versions, Keras accuracy and how the data were prepared.

Regenerate with ``tools/train_lenet5.py`` (needs TensorFlow; see its docstring).
"""
