"""``deploy --local``: the exact ``model.tar.gz`` served under the SageMaker container contract on loopback.

The archive is unpacked (with path checks) into a temp folder standing in for
``/opt/ml/model``; its ``code/inference.py`` is imported from there and wrapped
in a small Starlette app: ``GET /ping`` answers 200 once ``model_fn`` has
loaded the model, ``POST /invocations`` runs ``input_fn`` -> ``predict_fn`` ->
``output_fn``. Request errors (``ValueError``) are answered 400, oversize
bodies 413, anything else 500. The app runs on the performance lab's
``engines.serving.http.serve_in_thread`` (127.0.0.1 by default).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task

MAX_BODY = 6 * 1024 * 1024


def load_inference_module(code_dir: Path) -> Any:
    path = code_dir / "inference.py"
    if not path.is_file():
        raise WorkbenchError("the package has no code/inference.py: rebuild it with workbench deploy")
    spec = importlib.util.spec_from_file_location(f"wb_sagemaker_inference_{uuid.uuid4().hex[:8]}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    for fn in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        if not callable(getattr(module, fn, None)):
            raise WorkbenchError(f"code/inference.py lacks {fn}()")
    return module


def container_app(module: Any, model: Any) -> Any:
    """A Starlette app with the SageMaker container routes around a loaded handler module."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def ping(request: Request) -> Response:
        return Response(status_code=200 if model is not None else 503)

    def handle(body: bytes, content_type: str, accept: str) -> Any:
        data = module.input_fn(body, content_type)
        prediction = module.predict_fn(data, model)
        return module.output_fn(prediction, accept)

    async def invocations(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
        content_type = request.headers.get("content-type", "application/json")
        accept = request.headers.get("accept", "application/json")
        if accept in ("", "*/*"):
            accept = content_type
        try:
            out = await run_in_threadpool(handle, body, content_type, accept)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # the model failed: the container answers 500 with the reason
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        media = accept.split(";")[0].strip() or "application/json"
        return Response(out if isinstance(out, bytes) else str(out).encode(), media_type=media)

    return Starlette(routes=[Route("/ping", ping, methods=["GET"]),
                             Route("/invocations", invocations, methods=["POST"])])


class LocalContainer:
    """Unpack, load and serve a package; ``stop()`` (or the context exit) removes the temp folder."""

    def __init__(self, archive: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        from engines.deploy.package import safe_extract
        from engines.serving.http import serve_in_thread

        archive = Path(archive)
        if not archive.is_file():
            raise WorkbenchError(f"{archive} does not exist: build the package first")
        self.root = Path(tempfile.mkdtemp(prefix="wb-sm-model-"))
        try:
            self.members = safe_extract(archive, self.root)
            self.module = load_inference_module(self.root / "code")
            t0 = time.perf_counter()
            self.model = self.module.model_fn(str(self.root))
            self.load_ms = (time.perf_counter() - t0) * 1000.0
            self.server = serve_in_thread(container_app(self.module, self.model), host, port)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalContainer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class LocalResult:
    url: str
    members: list[str]
    model_load_ms: float
    ping_status: int
    invoke_status: int
    latency_ms: float
    content_type: str
    response_preview: str
    output_shapes: dict[str, list[int]] = field(default_factory=dict)
    cold_start: dict[str, Any] | None = None     # engines.deploy.coldstart, when measured with the check

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def invoke(url: str, body: bytes, content_type: str = "application/json", timeout: float = 60.0) -> tuple[int, float, bytes, str]:
    import httpx

    with httpx.Client(timeout=timeout) as client:
        t0 = time.perf_counter()
        resp = client.post(f"{url}/invocations", content=body,
                           headers={"Content-Type": content_type, "Accept": content_type})
        ms = (time.perf_counter() - t0) * 1000.0
    return resp.status_code, ms, resp.content, resp.headers.get("content-type", "")


def local_check(archive: str | Path, request_body: bytes, content_type: str = "application/json", *,
                host: str = "127.0.0.1", port: int = 0, task: TaskContext | None = None) -> LocalResult:
    """Serve the package, ping it, invoke it once with ``request_body`` and report the latency."""
    import httpx

    task = ensure_task(task)
    task.report(0.1, "unpacking model.tar.gz and loading code/inference.py")
    with LocalContainer(archive, host, port) as box:
        task.report(0.5, f"serving on {box.url}")
        ping = httpx.get(f"{box.url}/ping", timeout=10).status_code
        status, ms, data, ctype = invoke(box.url, request_body, content_type)
        task.report(0.9, f"invoked: HTTP {status} in {ms:.1f} ms")
        shapes: dict[str, list[int]] = {}
        if status == 200 and ctype.startswith("application/json"):
            import json

            import numpy as np

            shapes = {k: list(np.asarray(v).shape) for k, v in json.loads(data).get("outputs", {}).items()}
        result = LocalResult(box.url, box.members, box.load_ms, ping, status, ms, ctype,
                             data[:200].decode("utf-8", "replace"), shapes)
    if status != 200:
        raise WorkbenchError(f"the package answered HTTP {status} locally: {result.response_preview}")
    task.report(1.0, f"local check passed: {ms:.1f} ms")
    return result
