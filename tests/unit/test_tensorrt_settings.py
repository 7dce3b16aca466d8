"""User choices → TensorRT builder settings, checked without TensorRT."""

from __future__ import annotations

import pytest

from engines.build.tensorrt_settings import TensorRTSettings, profile_shapes, settings_from_choices
from engines.errors import WorkbenchError
from engines.models.model_info import TensorSpec


@pytest.mark.parametrize("precision, sparse, flags", [
    ("fp32", False, ()),
    ("fp16", False, ("FP16",)),
    ("int8", False, ("INT8", "FP16")),
    ("fp16", True, ("FP16", "SPARSE_WEIGHTS")),
    ("FP32", True, ("SPARSE_WEIGHTS",)),
])
def test_weakly_typed_tensorrt_10_maps_precision_to_builder_flags(precision, sparse, flags):
    s = settings_from_choices(precision, sparse=sparse, model_has_qdq=precision.lower() == "int8")
    plan = s.plan("10.8.0")
    assert not plan.strongly_typed and plan.builder_flags == flags and not plan.convert_to_fp16


def test_workspace_and_profile_are_carried_through():
    s = settings_from_choices("fp16", workspace_mb=2048, min_batch=2, opt_batch=16, max_batch=64)
    assert s.workspace_bytes == 2048 * 1024 * 1024
    assert s.profile == (2, 16, 64)
    d = s.to_dict()
    assert d["precision"] == "fp16" and d["workspace_bytes"] == 2 ** 31


def test_profile_shapes_replace_the_batch_and_keep_static_dims():
    s = settings_from_choices("fp32", min_batch=1, opt_batch=8, max_batch=32)
    shapes = profile_shapes([TensorSpec("input", ("batch", 3, 224, 224), "float32"),
                             TensorSpec("mask", ("N", 7), "float32")], s)
    assert shapes["input"] == ((1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))
    assert shapes["mask"] == ((1, 7), (8, 7), (32, 7))


@pytest.mark.parametrize("kwargs, match", [
    (dict(precision="int4"), "unknown TensorRT precision"),
    (dict(workspace_mb=8), "workspace 8 MB is out of range"),
    (dict(min_batch=4, opt_batch=2, max_batch=8), "batch profile 4/2/8 is invalid"),
    (dict(min_batch=0), "batch profile 0/8/32 is invalid"),
    (dict(max_batch=100000, opt_batch=8), "max batch 100000 is too large"),
    (dict(workspace_mb=1.5), "whole number"),
    (dict(builder_optimization_level=7), "optimization level must be 0 to 5"),
])
def test_invalid_choices_are_refused_with_the_reason(kwargs, match):
    with pytest.raises(WorkbenchError, match=match):
        TensorRTSettings(**kwargs)


def test_int8_needs_a_qdq_model():
    with pytest.raises(WorkbenchError, match="explicit quantization"):
        settings_from_choices("int8", model_has_qdq=False)
    assert settings_from_choices("int8", model_has_qdq=None).precision == "int8"  # unknown: allowed


def test_qdq_model_at_fp16_gets_a_note():
    s = settings_from_choices("fp16", model_has_qdq=True)
    assert any("Q/DQ" in n for n in s.notes)


def test_sparse_weights_need_ampere():
    with pytest.raises(WorkbenchError, match="compute capability 8.0"):
        settings_from_choices("fp16", sparse=True, compute_capability=(7, 5))
    s = settings_from_choices("fp16", sparse=True, compute_capability=(8, 6))
    assert "SPARSE_WEIGHTS" in s.plan("11.4.0").builder_flags and any("2:4" in n for n in s.notes)


def test_fixed_batch_must_match_the_profile():
    spec = [TensorSpec("x", (1, 3, 32, 32), "float32")]
    with pytest.raises(WorkbenchError, match="fixed batch of 1"):
        profile_shapes(spec, settings_from_choices("fp32"))
    fixed = settings_from_choices("fp32", min_batch=1, opt_batch=1, max_batch=1)
    assert profile_shapes(spec, fixed)["x"] == ((1, 3, 32, 32),) * 3


def test_other_dynamic_dims_are_refused():
    with pytest.raises(WorkbenchError, match="dynamic dimension 1"):
        profile_shapes([TensorSpec("ids", ("batch", "seq"), "int64")], settings_from_choices("fp32"))
