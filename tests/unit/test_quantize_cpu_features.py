"""CPU flags parsed from /proc/cpuinfo text, and the explanations built on them."""

from __future__ import annotations

from engines.measure.cpu_features import cpu_features, explain_int8_slowdown, int8_outlook, parse_cpuinfo

X86_VNNI = """processor : 0
model name : Intel(R) Xeon(R) Platinum 8480+
flags : fpu sse2 avx2 fma avx512f avx512bw avx512_vnni amx_tile amx_int8
processor : 1
model name : Intel(R) Xeon(R) Platinum 8480+
flags : fpu sse2 avx2 fma avx512f avx512bw avx512_vnni amx_tile amx_int8
"""
X86_OLD = "processor : 0\nmodel name : Old CPU\nflags : sse2 avx2 fma\n"
ARM = "processor : 0\nFeatures : fp asimd asimddp i8mm\nCPU part : 0xd40\n"


def test_parse_x86_flags_and_cores():
    cpu = parse_cpuinfo(X86_VNNI, arch="x86_64")
    assert cpu.cores == 2 and cpu.model.startswith("Intel")
    assert cpu.int8_dot and cpu.amx and cpu.has("avx512_vnni")
    assert "amx_int8" in cpu.to_dict()["flags"]


def test_parse_arm_dotprod():
    cpu = parse_cpuinfo(ARM, arch="aarch64")
    assert cpu.int8_dot and not cpu.amx and "dot-product" in int8_outlook(cpu)


def test_explanations_name_the_cause():
    vnni, old = parse_cpuinfo(X86_VNNI, "x86_64"), parse_cpuinfo(X86_OLD, "x86_64")
    s8 = explain_int8_slowdown({"quant": "int8-static", "activation_type": "s8", "weight_type": "s8"}, vnni)
    assert "U8 activations" in s8 and "VPDPBUSD" in s8
    assert "no 8-bit dot-product" in explain_int8_slowdown({"quant": "int8-static", "activation_type": "u8",
                                                             "weight_type": "s8"}, old)
    assert "pre-processed" in explain_int8_slowdown({"quant": "int8-static", "activation_type": "u8",
                                                      "weight_type": "s8", "preprocessed": False}, vnni)
    assert "FP16" in explain_int8_slowdown({"quant": "fp16"}, old)
    assert int8_outlook(old).startswith("AVX2 without VNNI")


def test_this_machine_is_read():
    cpu = cpu_features()
    assert cpu.cores >= 1 and cpu.arch


def test_u8_by_s8_saturates_only_on_x86_without_vnni():
    from engines.measure.cpu_features import saturating_u8s8

    assert saturating_u8s8(parse_cpuinfo(X86_OLD, "x86_64"))
    assert not saturating_u8s8(parse_cpuinfo(X86_VNNI, "x86_64"))
    assert not saturating_u8s8(parse_cpuinfo(ARM, "aarch64"))


def test_weights_are_quantized_to_7_bits_where_the_kernels_saturate(tmp_path, monkeypatch):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from engines.optimize.quantize_ort import quantize_int8_static
    from tests.unit.optimize_helpers import digits_x, tiny_cnn_onnx

    src = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    x = digits_x(32)
    widest = {}
    for name, text in (("old", X86_OLD), ("vnni", X86_VNNI)):
        cpu = parse_cpuinfo(text, "x86_64")
        monkeypatch.setattr("engines.measure.cpu_features.cpu_features", lambda cpu=cpu: cpu)
        dst = tmp_path / f"{name}.onnx"
        info = quantize_int8_static(src, dst, x, samples=16)
        assert info["reduce_range"] is (name == "old")
        weights = [numpy_helper.to_array(t) for t in onnx.load(str(dst)).graph.initializer
                   if t.data_type == onnx.TensorProto.INT8 and t.dims and np.prod(t.dims) > 8]
        widest[name] = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert widest["old"] <= 64 < widest["vnni"]    # 7-bit weights only where U8 x S8 would saturate
