"""Precision on TensorRT 10.x and 11.x: strong typing, FP16 graphs, Q/DQ INT8, only the flags a release has."""

from __future__ import annotations

import pytest

from engines.build.tensorrt_typing import (WEAK_TYPING_FLAGS, io_tensors, layer_output_types, parse_version,
                                           typing_plan)
from engines.errors import UnsupportedError

# BuilderFlag names exported by the TensorRT 11.4 Python bindings that matter here (GUIDE §4, checked facts):
# the weak-typing flags are gone, TF32 / SPARSE_WEIGHTS / timing-cache flags remain.
FLAGS_11 = {"TF32", "SPARSE_WEIGHTS", "VERSION_COMPATIBLE", "REFIT", "WEIGHT_STREAMING", "STRIP_PLAN",
            "DISABLE_TIMING_CACHE"}
FLAGS_10 = FLAGS_11 | {"FP16", "INT8", "BF16", "FP8", "OBEY_PRECISION_CONSTRAINTS", "DIRECT_IO"}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_11_is_strongly_typed_and_names_no_removed_flag(precision):
    plan = typing_plan("11.4.0", precision, available_flags=FLAGS_11, has_strongly_typed=True)
    assert plan.strongly_typed and not set(plan.builder_flags) & WEAK_TYPING_FLAGS
    assert plan.convert_to_fp16 == (precision == "fp16")
    assert plan.needs_qdq == (precision == "int8")


def test_tensorrt_11_is_strongly_typed_even_if_the_flag_were_missing():
    assert typing_plan("11.0.1", "fp16", has_strongly_typed=False).strongly_typed


def test_tensorrt_10_12_opts_into_strong_typing_like_11():
    new = typing_plan("10.13.2", "fp16", available_flags=FLAGS_10, has_strongly_typed=True)
    assert new.strongly_typed and new.convert_to_fp16 and new.builder_flags == ()


def test_older_tensorrt_10_keeps_weak_typing_flags():
    old = typing_plan("10.3.0", "int8", available_flags=FLAGS_10, has_strongly_typed=False)
    assert not old.strongly_typed and old.builder_flags == ("INT8", "FP16") and not old.convert_to_fp16


def test_sparse_weights_exist_on_both():
    for version, flags in (("10.3.0", FLAGS_10), ("11.4.0", FLAGS_11)):
        assert "SPARSE_WEIGHTS" in typing_plan(version, "fp32", sparse=True, available_flags=flags).builder_flags


def test_a_flag_the_release_lacks_is_refused_with_the_reason():
    with pytest.raises(UnsupportedError, match="has no builder flag FP16"):
        typing_plan("10.3.0", "fp16", has_strongly_typed=False, available_flags=FLAGS_11)


def test_tensorrt_8_and_bad_versions_are_refused():
    with pytest.raises(UnsupportedError, match="install TensorRT 10.x or 11.x"):
        typing_plan("8.6.1", "fp32")
    with pytest.raises(UnsupportedError, match="cannot read the TensorRT version"):
        parse_version("nightly")


def test_describe_says_what_each_precision_does():
    assert "float32 I/O" in typing_plan("11.4.0", "fp16").describe()
    assert "Q/DQ" in typing_plan("11.4.0", "int8").describe()
    assert "FP16" in typing_plan("10.3.0", "fp16", has_strongly_typed=False).describe()


def test_inspector_json_of_both_schemas():
    v10 = {"Bindings": ["input_0", "output_0"],
           "Layers": [{"Name": "conv", "Outputs": [{"Format/Datatype": "Row major linear FP16 format"}]}]}
    v11 = {"I/O Tensors": [{"Name": "input_0", "IOMode": "Input", "DataType": "Float", "Dimensions": [1, 3]},
                           {"Name": "output_0", "IOMode": "Output", "DataType": "Float", "Dimensions": [1, 10]}],
           "Layers": [{"Name": "conv", "Outputs": [{"DataType": "Int8", "Format": "kCHW32"}]}]}
    assert [t["name"] for t in io_tensors(v10)] == ["input_0", "output_0"]
    assert [(t["name"], t["mode"]) for t in io_tensors(v11)] == [("input_0", "Input"), ("output_0", "Output")]
    assert "FP16" in layer_output_types(v10["Layers"][0])
    assert "Int8" in layer_output_types(v11["Layers"][0])


def test_summarize_layers_reads_both_schemas():
    from engines.build.tensorrt_engine import summarize_layers

    v11 = {"I/O Tensors": [{"Name": "x", "IOMode": "Input"}],
           "Layers": [{"Name": "a", "LayerType": "Convolution", "Outputs": [{"DataType": "Int8", "Format": "x"}]},
                      {"Name": "b", "LayerType": "Pooling", "Outputs": [{"DataType": "Half", "Format": "x"}]}]}
    rep = summarize_layers(v11)
    assert rep["layers"] == 2 and rep["precisions"] == {"INT8": 1, "FP16": 1}
    assert rep["io_tensors"][0]["name"] == "x"
