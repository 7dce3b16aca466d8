"""NPY bodies decoded in place: the same arrays as np.load, writable, and np.load's errors for anything unusual."""

from __future__ import annotations

import io

import numpy as np
import pytest

from engines.models.model_info import TensorSpec
from engines.serving.codecs import RequestError, _npy_view, decode

SPEC = [TensorSpec("x", ("batch", 3, 4), "float32")]
NPY = "application/x-npy"


def npy(arr: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr, allow_pickle=False)
    else:
        from numpy.lib import format as f

        f.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("version", [None, (1, 0), (2, 0), (3, 0)])
def test_plain_npy_is_read_in_place_and_equals_np_load(version):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    body = bytearray(npy(x, version))
    arr = _npy_view(body)
    assert arr is not None and arr.dtype == x.dtype and arr.shape == x.shape and np.array_equal(arr, x)
    assert arr.flags.writeable and arr.flags.c_contiguous
    assert np.shares_memory(arr, np.frombuffer(body, np.uint8))    # no copy of a writable body
    feeds = decode(body, NPY, SPEC)
    assert np.array_equal(feeds["x"], x) and feeds["x"].flags.writeable


def test_read_only_body_gives_a_writable_copy():
    x = np.ones((1, 3, 4), np.float32)
    arr = _npy_view(npy(x))                       # bytes: immutable
    assert arr is not None and arr.flags.writeable and np.array_equal(arr, x)


def test_unusual_npy_goes_through_np_load():
    x = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert _npy_view(bytearray(npy(x))) is None                        # Fortran order
    assert np.array_equal(decode(bytearray(npy(x)), NPY, SPEC)["x"], x)
    assert _npy_view(bytearray(npy(np.zeros((1, 3, 4), np.float32)) + b"tail")) is None   # bytes after the data
    assert _npy_view(bytearray(npy(np.zeros((1, 3, 4), np.float32))[:-4])) is None        # truncated
    assert _npy_view(b"not npy at all") is None
    with pytest.raises(RequestError) as exc:
        decode(bytearray(npy(np.zeros((1, 3, 4), np.float32))[:-4]), NPY, SPEC)
    assert exc.value.status == 400 and "malformed NPY" in exc.value.message
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert _npy_view(bytearray(buf.getvalue())) is None
    with pytest.raises(RequestError) as exc:
        decode(bytearray(buf.getvalue()), NPY, SPEC)
    assert exc.value.status == 400


def test_dtypes_cast_and_nan_still_refused():
    assert decode(bytearray(npy(np.ones((1, 3, 4), np.float16))), NPY, SPEC)["x"].dtype == np.float32
    with pytest.raises(RequestError) as exc:
        decode(bytearray(npy(np.zeros((1, 3, 4), np.complex64))), NPY, SPEC)
    assert exc.value.status == 422
    bad = np.zeros((1, 3, 4), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(RequestError) as exc:
        decode(bytearray(npy(bad)), NPY, SPEC)
    assert exc.value.status == 422 and "NaN" in exc.value.message


def test_fast_invocations_path_answers_as_the_starlette_route():
    """POST /invocations skips Starlette's routing; the route behind it must give the same answers."""
    from starlette.testclient import TestClient

    from engines.serving.app import create_app
    from tests.perf_fixtures import SlowRunner

    app = create_app(SlowRunner(delay_s=0.0, features=4), max_batch=4, max_delay_ms=0)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with TestClient(app) as fast, TestClient(app.app) as routed:    # app.app: the Starlette app alone
        for c in (fast, routed):
            r = c.post("/invocations", content=npy(x), headers={"content-type": NPY})
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert int(r.headers["content-length"]) == len(r.content)
            assert r.json() == {"predictions": [[6.0], [22.0]]}
            bad = c.post("/invocations", content=b"{", headers={"content-type": "application/json"})
            assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
            assert c.post("/invocations", content=b"x", headers={"content-type": "text/csv"}).status_code == 415
            assert c.get("/invocations").status_code == 405
            assert c.get("/ping").status_code == 200
