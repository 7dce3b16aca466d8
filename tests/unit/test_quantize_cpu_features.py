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
