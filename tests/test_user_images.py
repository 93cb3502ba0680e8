"""Images in, labels out: pyconvinfer.images and `pyconvinfer run` on image
files, folders and globs (real photos from scikit-learn and images written here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from user_models import conv_stack

import pyconvinfer
from pyconvinfer import images
from pyconvinfer.cli import main
from pyconvinfer.errors import PyconvinferError

PIL = pytest.importorskip("PIL.Image")
DATA = Path(pyconvinfer.__file__).parent / "data"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """scikit-learn's two sample photos (427x640 JPEG, shipped with it)."""
    datasets = pytest.importorskip("sklearn.datasets")
    d = tmp_path_factory.mktemp("photos")
    for f in datasets.load_sample_images().filenames:
        (d / Path(f).name).write_bytes(Path(f).read_bytes())
    return d


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> str:
    return pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path_factory.mktemp("m") / "lenet.pci")


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The first 40 held-out digits as 8-bit PNGs: pixel k/16 written as 15k (so 1/240 restores it)."""
    d = tmp_path_factory.mktemp("digits")
    x = np.load(DATA / "digits_test_x.npy")[:40]
    for i, img in enumerate(x):
        PIL.fromarray(np.rint(img[..., 0] * 240).astype(np.uint8), mode="L").save(d / f"digit_{i:02d}.png")
    return d, np.load(DATA / "digits_test_y.npy")[:40]


def test_lenet_on_digit_images_from_its_held_out_set(lenet, digit_pngs, tmp_path, capsys) -> None:
    d, labels = digit_pngs
    names = tmp_path / "digits.txt"
    names.write_text("\n".join(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]))
    x = images.load(d, pyconvinfer.load(lenet), scale=1 / 240)
    np.testing.assert_allclose(x, np.load(DATA / "digits_test_x.npy")[:40], rtol=1e-6, atol=0)
    assert main(["run", lenet, str(d), "--scale", "1/240", "--labels", str(names), "--top-k", "1",
                 "-o", str(tmp_path / "p.npy")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 40 and out[0].startswith(str(d / "digit_00.png"))
    probs = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(probs, pyconvinfer.load(lenet).predict(np.load(DATA / "digits_test_x.npy")[:40]),
                               atol=1e-5)
    named = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert [line.split()[1] for line in out] == [named[k] for k in probs.argmax(-1)]
    assert (probs.argmax(-1) == labels).mean() > 0.9


def test_run_a_folder_of_photos_with_labels_in_every_format(photos, tmp_path, capsys) -> None:
    model = conv_stack(tmp_path / "m.pci", input_shape=(64, 64, 3))
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\nfish\nfrog\n")
    argv = ["run", model, str(photos), "--labels", str(labels), "--top-k", "3", "--preprocess", "caffe"]
    assert main(argv + ["-o", str(tmp_path / "y.npy")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table] == [str(photos / "china.jpg"), str(photos / "flower.jpg")]
    want = pyconvinfer.load(model).predict(images.load(photos, pyconvinfer.load(model), preprocess="caffe"))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)
    assert main(argv + ["--format", "json", "-o", str(tmp_path / "y.csv")]) == 0
    js = json.loads(capsys.readouterr().out)
    assert [e["input"] for e in js] == [str(photos / "china.jpg"), str(photos / "flower.jpg")]
    best = int(want[0].argmax())
    assert js[0]["top"][0] == {"class": best, "label": "cat dog bird fish frog".split()[best],
                               "score": pytest.approx(float(want[0, best]))}
    rows = (tmp_path / "y.csv").read_text().splitlines()
    assert rows[0] == "input,rank,class,label,score" and len(rows) == 1 + 2 * 3
    assert main(["run", model, str(photos / "*.jpg"), "--format", "csv", "--top-k", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_wrong_labels_file_and_missing_inputs_are_clear_errors(photos, tmp_path, capsys) -> None:
    model = conv_stack(tmp_path / "m.pci", input_shape=(32, 32, 3))
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert main(["run", model, str(photos), "--labels", str(labels)]) == 1
    assert "2 labels, but the model has 5 classes" in capsys.readouterr().err
    assert main(["run", model, str(tmp_path / "nothing*.png")]) == 1
    assert "matches no images" in capsys.readouterr().err
    assert main(["run", model, str(tmp_path / "gone.jpg")]) == 1
    assert "gone.jpg: no such file or directory" in capsys.readouterr().err
    assert main(["run", model, str(photos), str(tmp_path / "x.npy")]) == 1
    assert "must be the only input" in capsys.readouterr().err
    (tmp_path / "notimage.png").write_bytes(b"not an image")
    assert main(["run", model, str(tmp_path / "notimage.png")]) == 1
    assert "notimage.png: cannot read as an image" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP", "JPEG"])
def test_read_formats_resize_bilinear_and_center_crop(tmp_path, fmt) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = tmp_path / f"x.{fmt.lower()}"
    PIL.fromarray(pixels).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    stored = np.asarray(PIL.open(path).convert("RGB"))
    if fmt != "JPEG":  # lossless formats round-trip exactly
        np.testing.assert_array_equal(stored, pixels)
    x = images.read(path, (20, 20))
    want = np.asarray(PIL.fromarray(stored).resize((20, 20), PIL.BILINEAR), np.float32)
    np.testing.assert_array_equal(x, want)
    c = images.read(path, (20, 20), crop="center")  # the centred 30x30 square, then 20x20
    want = np.asarray(PIL.fromarray(stored[:, 10:40]).resize((20, 20), PIL.BILINEAR), np.float32)
    np.testing.assert_array_equal(c, want)
    assert images.read(path).shape == (30, 50, 3)
    assert images.read(path, channels=1).shape == (30, 50, 1)


def test_preprocess_modes_match_keras_definitions() -> None:
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(images.preprocess(x, "tf"), x64 / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(images.preprocess(x, "torch"),
                               (x64 / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], atol=1e-5)
    np.testing.assert_allclose(images.preprocess(x, "caffe"), x64[..., ::-1] - [103.939, 116.779, 123.68],
                               atol=1e-4)
    np.testing.assert_array_equal(images.preprocess(x, "none"), x)
    np.testing.assert_allclose(images.preprocess(x, scale=1 / 255, mean=[0.5, 0.4, 0.3], std=0.2),
                               (x64 / 255 - [0.5, 0.4, 0.3]) / 0.2, atol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        images.preprocess(x, "tf", scale=2.0)
    with pytest.raises(ValueError, match="one per channel"):
        images.preprocess(x, mean=[1, 2])


def test_unknown_height_and_width_take_each_image_at_its_size(photos, tmp_path, capsys) -> None:
    model_path = conv_stack(tmp_path / "free.pci")  # (None, None, 3)
    model = pyconvinfer.load(model_path)
    assert main(["run", model_path, str(photos), "-o", str(tmp_path / "y.npy"), "--preprocess", "tf"]) == 0
    want = [model.predict(images.preprocess(images.read(photos / f), "tf")) for f in ("china.jpg", "flower.jpg")]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.stack(want), rtol=1e-5, atol=1e-6)


def test_progress_bar_for_many_images(digit_pngs, lenet, capsys) -> None:
    d, _ = digit_pngs
    assert main(["run", lenet, str(d), "--scale", "1/240", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "40/40 images" in err and err.count("\n") == 2  # the bar's line, then the timing line


def test_without_pillow_the_message_says_how_to_get_it(monkeypatch, photos) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(PyconvinferError, match=r'pip install "pyconvinfer\[images\]"'):
        images.read(photos / "china.jpg")


def test_load_needs_one_size_for_a_batch(tmp_path) -> None:
    for name, size in (("a.png", (20, 10)), ("b.png", (30, 10))):
        PIL.new("RGB", size, (10, 20, 30)).save(tmp_path / name)
    with pytest.raises(PyconvinferError, match="different sizes"):
        images.load(tmp_path)
    x = images.load(tmp_path, size=(8, 6), preprocess="tf")
    assert x.shape == (2, 8, 6, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], np.array([10, 20, 30]) / 127.5 - 1, atol=1e-6)
    assert images.expand([tmp_path / "b.png", str(tmp_path / "*.png")]) == [
        str(tmp_path / "b.png"), str(tmp_path / "a.png"), str(tmp_path / "b.png")]
