"""Run a TFLite model with the LiteRT interpreter behind the :class:`engines.measure.runners.Runner` interface."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import DataError, UnsupportedError
from engines.models.inspect_tflite import open_interpreter, tflite_specs


class TfliteRunner:
    """LiteRT interpreter with a fixed thread count; inputs are resized when the batch changes."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu") -> None:
        if device != "cpu":
            raise UnsupportedError(f"TFLite models run on the CPU here (LiteRT interpreter); device {device!r} "
                                   "is not available for them")
        from engines.measure.runners import default_threads

        self.path = Path(path)
        self.threads = threads or default_threads()
        self.device = "cpu"
        self._interp = open_interpreter(self.path, threads=self.threads)
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = tflite_specs(self._in)
        self.outputs = tflite_specs(self._out)
        self._shapes: dict[int, tuple[int, ...]] = {}
        self._interp.allocate_tensors()
        for d in self._in:
            self._shapes[d["index"]] = tuple(int(v) for v in d["shape"])

    def _prepare(self, feeds: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
        items = []
        resized = False
        for d, spec in zip(self._in, self.inputs):
            if spec.name not in feeds:
                raise DataError(f"missing input {spec.name!r}; the model takes {', '.join(s.name for s in self.inputs)}")
            arr = np.ascontiguousarray(feeds[spec.name], dtype=d["dtype"])
            if tuple(arr.shape) != self._shapes[d["index"]]:
                try:
                    self._interp.resize_tensor_input(d["index"], list(arr.shape), strict=True)
                except (ValueError, RuntimeError) as exc:
                    raise DataError(f"input {spec.name!r} cannot take shape {list(arr.shape)}: "
                                    f"the model expects {spec.shape_text()}") from exc
                self._shapes[d["index"]] = tuple(arr.shape)
                resized = True
            items.append((d["index"], arr))
        if resized:
            self._interp.allocate_tensors()
        return items

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        for index, arr in self._prepare(feeds):
            self._interp.set_tensor(index, arr)
        self._interp.invoke()
        return [self._interp.get_tensor(d["index"]).copy() for d in self._out]


def open_tflite_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                       **kw: Any) -> TfliteRunner:
    return TfliteRunner(path, threads=threads, device=device)
