"""The container image of a deployment: AWS's PyTorch inference Deep Learning Container.

The package runs ONNX Runtime inside the PyTorch inference container (its
model server loads ``code/inference.py`` and installs
``code/requirements.txt``). The image URI comes from the sagemaker SDK's
``image_uris.retrieve`` (``sagemaker.core.image_uris`` in SDK v3, the top-level
module in v2), which works offline from the SDK's bundled tables.
"""

from __future__ import annotations

from functools import lru_cache

from engines.errors import UnsupportedError, WorkbenchError

FRAMEWORK = "pytorch"
FRAMEWORK_VERSION = "2.6.0"
PY_VERSION = "py312"
CPU_INSTANCE_FOR_SERVERLESS = "ml.c5.xlarge"   # selects the CPU image; serverless has no GPU


def _image_uris():
    try:
        from sagemaker.core import image_uris  # SDK v3
    except ImportError:
        try:
            from sagemaker import image_uris  # SDK v2
        except ImportError as exc:
            raise UnsupportedError("the sagemaker SDK is not installed (it picks the container image): "
                                   "pip install 'workbench[aws]'") from exc
    return image_uris


@lru_cache(maxsize=64)
def image_uri(region: str, instance_type: str | None = None, *, framework: str = FRAMEWORK,
              version: str = FRAMEWORK_VERSION, py_version: str = PY_VERSION) -> str:
    """The inference image for ``region``; serverless (``instance_type`` None) gets the CPU image."""
    image_uris = _image_uris()
    try:
        return image_uris.retrieve(framework, region=region, version=version, py_version=py_version,
                                   instance_type=instance_type or CPU_INSTANCE_FOR_SERVERLESS,
                                   image_scope="inference")
    except ValueError as exc:
        text = " ".join(str(exc).split())
        if "Unsupported region" in text:
            raise WorkbenchError(f"no SageMaker {framework} {version} inference image for region {region!r}: "
                                 "deploy to a region the SDK lists (e.g. us-east-1, eu-west-1)") from None
        raise WorkbenchError(f"no {framework} {version} inference image for {instance_type or 'serverless'} "
                             f"in {region}: {text[:200]}") from None


def is_gpu_instance(instance_type: str) -> bool:
    family = instance_type.removeprefix("ml.").split(".")[0]
    return family[:1] in ("g", "p")
