"""Train the sample models on scikit-learn's bundled 8x8 digits (no download), deterministically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.tasks import TaskContext, ensure_task

SEED = 0
TEST_FRACTION = 0.25


@dataclass
class DigitsSplit:
    x_train: np.ndarray  # float32 [N, 1, 8, 8], pixel values scaled to 0..1
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray


def digits_split() -> DigitsSplit:
    """The fixed stratified train/held-out split of ``sklearn.datasets.load_digits``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load_digits()
    x = (ds.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = ds.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return DigitsSplit(np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te)


def to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


def train_torch_cnn(split: DigitsSplit, epochs: int = 12, task: TaskContext | None = None) -> Any:
    """DigitsCNN trained with Adam on the train split; returns the module in eval mode."""
    import torch

    from engines.models import zoo

    task = ensure_task(task)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: bit-identical results run to run
    try:
        model = zoo.build("DigitsCNN", seed=SEED).train()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(SEED)
        x = torch.from_numpy(split.x_train)
        y = torch.from_numpy(split.y_train)
        for epoch in range(epochs):
            task.report(epoch / epochs, f"training the PyTorch CNN, epoch {epoch + 1}/{epochs}")
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), 64):
                idx = order[i:i + 64]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def torch_logits(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _keras_cnn(keras: Any) -> Any:
    """The Keras digits CNN (same layout as the PyTorch one, NHWC, no batch norm)."""
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1), name="input"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(64, activation="relu", name="fc1"),
        keras.layers.Dense(10, name="logits"),
    ], name="digits_keras")


def train_keras_cnn(split: DigitsSplit, out_path: Path, epochs: int = 20,
                    task: TaskContext | None = None) -> float:
    """Train a small Keras CNN (NHWC input [N, 8, 8, 1]), save it to ``out_path``; return held-out accuracy."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    task = ensure_task(task)
    task.report(0.0, "training the Keras CNN")
    keras.utils.set_random_seed(SEED)
    try:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    except (ImportError, RuntimeError):
        pass
    model = _keras_cnn(keras)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            task.report((epoch + 1) / epochs, f"training the Keras CNN, epoch {epoch + 1}/{epochs}")

    model.fit(to_nhwc(split.x_train), split.y_train, epochs=epochs, batch_size=64, shuffle=True, verbose=0,
              callbacks=[Progress()])
    logits = model.predict(to_nhwc(split.x_test), verbose=0)
    plain = _keras_cnn(keras)  # never compiled: saved without optimizer state, a third of the size
    plain.set_weights(model.get_weights())
    plain.save(str(out_path))
    _fix_zip_dates(out_path)
    return accuracy(logits, split.y_test)


def _fix_zip_dates(path: Path) -> None:
    """Rewrite a .keras zip so a rebuild gives a byte-identical file.

    Fixed entry dates, no ``date_saved``, and Keras's ``shared_object_id`` (a memory address) renumbered
    consistently in order of appearance.
    """
    import json
    import re
    import zipfile

    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    ids: dict[str, str] = {}

    def renumber(m: re.Match) -> str:
        return f'"shared_object_id": {ids.setdefault(m.group(1), str(len(ids) + 1))}'

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "config.json":
                data = re.sub(r'"shared_object_id": (\d+)', renumber, data.decode("utf-8")).encode("utf-8")
            elif info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                data = json.dumps(meta).encode("utf-8")
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = info.compress_type, 0o644 << 16
            zout.writestr(fixed, data)


def keras_to_tflite(keras_path: Path, out_path: Path) -> None:
    """Float32 TFLite conversion of a saved Keras model (the format's baseline)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import contextlib
    import io

    model = keras.models.load_model(str(keras_path), compile=False)
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the traced signature
        out_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
