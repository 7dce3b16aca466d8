"""Helpers for the cost/deploy tests: tiny ONNX models, a moto server, a failing-client wrapper."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

ROLE = "arn:aws:iam::123456789012:role/WorkbenchSageMakerRole"
BUCKET = "wb-deploy-tests"
FAKE_KEY_ID = "AKIAWBTESTKEYID00042"
FAKE_SECRET = "wbFakeSecret/DoNotLeak+9x7Qz3"


def tiny_onnx(path: Path, shape: tuple = ("N", 1, 8, 8), classes: int = 10) -> Path:
    """Reshape + Gemm over an image-shaped input: a real ONNX model in a few hundred bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    feat = int(np.prod(shape[1:]))
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((feat, classes)).astype(np.float32), "W"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "B"),
             numpy_helper.from_array(np.array([-1, feat], np.int64), "shape")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [shape[0], classes])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("Gemm", ["flat", "W", "B"],
                                                                                       ["logits"])]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def measured(latency_ms: float = 0.5, ips: float = 2000.0, p99: float = 1.0, device: str = "cpu") -> Any:
    """Benchmark figures as the harness records them (used where a test needs fixed numbers)."""
    from engines.measure.figures import Measured

    return Measured(ips=ips, batch=1, latency_ms={"p50": latency_ms, "p90": latency_ms, "p95": latency_ms,
                                                   "p99": p99, "mean": latency_ms},
                    threads=2, device=device, source="variant benchmark")


class MotoServer:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.url}/moto-api/reset", timeout=10)

    def stop(self) -> None:
        self.server.stop()


def fake_credentials(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


class Failing:
    """Wrap a boto3 client so that one method raises a ClientError (optionally after really running)."""

    def __init__(self, client: Any, method: str, after_call: bool = False) -> None:
        self._client = client
        self._method = method
        self._after = after_call

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name != self._method:
            return attr

        def boom(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            if self._after:
                attr(*args, **kwargs)
            raise ClientError({"Error": {"Code": "InjectedFailure", "Message": f"injected failure in {name}"}}, name)

        return boom


def leftovers(clients: Any, bucket: str = BUCKET) -> dict[str, list[str]]:
    """Everything billable or stored that a deployment could leave behind, as moto reports it."""
    sm, aas = clients.sagemaker, clients.autoscaling
    objs = clients.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        "s3": [o["Key"] for o in objs],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "targets": [t["ResourceId"] for t in aas.describe_scalable_targets(ServiceNamespace="sagemaker")
                    ["ScalableTargets"]],
        "policies": [p["PolicyName"] for p in aas.describe_scaling_policies(ServiceNamespace="sagemaker")
                     ["ScalingPolicies"]],
    }


def nothing_left(clients: Any, bucket: str = BUCKET) -> bool:
    return not any(leftovers(clients, bucket).values())


def moto_aws(server: "MotoServer", monkeypatch: Any, tmp_path: Path) -> tuple[Any, Any]:
    """A reset moto server, fake credentials, an isolated WORKBENCH_HOME: (clients, cloudwatch client)."""
    from engines.deploy.aws import make_clients, make_session
    from engines.deploy.monitor import cloudwatch_client

    server.reset()
    fake_credentials(monkeypatch)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    session = make_session("us-east-1")
    return (make_clients("us-east-1", server.url, session=session),
            cloudwatch_client("us-east-1", server.url, session=session))
