"""What this CPU can do for low-precision inference, read from /proc/cpuinfo.

INT8 speed on a CPU depends on dot-product instructions: x86 VNNI
(``avx512_vnni`` / ``avx_vnni``) multiplies *unsigned* 8-bit activations by
*signed* 8-bit weights in one instruction (VPDPBUSD), AMX adds int8/bf16 tile
units, ARM has ``asimddp`` (SDOT/UDOT) and ``i8mm``. The workbench uses these
flags to explain a measured result: why U8/S8 INT8 is fast here, why S8/S8 or
an un-preprocessed graph is slower than FP32, what FP16 needs.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

INTERESTING = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
               "amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "f16c",
               "asimd", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp", "asimdhp")


@dataclass(frozen=True)
class CpuFeatures:
    model: str
    arch: str
    cores: int
    flags: frozenset[str] = field(default_factory=frozenset)

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def int8_dot(self) -> bool:
        """An 8-bit dot-product instruction (x86 VNNI or ARM dotprod)."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "asimddp", "amx_int8"})

    @property
    def amx(self) -> bool:
        return bool(self.flags & {"amx_int8", "amx_tile"})

    @property
    def fp16_compute(self) -> bool:
        return bool(self.flags & {"avx512_fp16", "amx_fp16", "asimdhp"})

    @property
    def is_x86(self) -> bool:
        return self.arch in ("x86_64", "amd64", "i686")

    def summary(self) -> str:
        shown = [f for f in INTERESTING if f in self.flags]
        return f"{self.model} ({self.arch}, {self.cores} cores): {', '.join(shown) or 'no SIMD flags found'}"

    def to_dict(self) -> dict:
        return {"model": self.model, "arch": self.arch, "cores": self.cores,
                "flags": sorted(f for f in self.flags if f in INTERESTING),
                "int8_dot": self.int8_dot, "amx": self.amx, "fp16_compute": self.fp16_compute}


def parse_cpuinfo(text: str, arch: str | None = None) -> CpuFeatures:
    """Flags and model name from the text of /proc/cpuinfo (x86 ``flags`` or ARM ``Features``)."""
    model, flags, cores = "", set(), 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "processor":
            cores += 1
        elif key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return CpuFeatures(model=model or platform.processor() or "unknown CPU",
                       arch=(arch or platform.machine() or "unknown").lower(),
                       cores=max(cores, 1), flags=frozenset(flags))


@lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """This machine's CPU; an empty flag set where /proc/cpuinfo cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text)


def saturating_u8s8(cpu: CpuFeatures | None = None) -> bool:
    """True where ONNX Runtime's U8 x S8 kernels can saturate: x86 without VNNI/AMX multiplies pairs of 8-bit
    products into 16 bits (VPMADDUBSW). Quantizing weights to 7 bits (``reduce_range``) keeps the sums in range,
    as ONNX Runtime's quantization guide recommends for such machines."""
    cpu = cpu or cpu_features()
    return cpu.is_x86 and not cpu.int8_dot


def int8_outlook(cpu: CpuFeatures | None = None) -> str:
    """One line on what INT8 can be expected to do on this CPU, before measuring."""
    cpu = cpu or cpu_features()
    if cpu.amx:
        return "AMX and VNNI present: static INT8 with U8 activations / S8 weights should be fast"
    if cpu.has("avx512_vnni") or cpu.has("avx_vnni"):
        return "VNNI present: static INT8 with U8 activations / S8 weights (VPDPBUSD) should be fast"
    if cpu.has("asimddp"):
        return "ARM dot-product present: static INT8 should be faster than FP32"
    if cpu.has("avx2"):
        return ("AVX2 without VNNI: INT8 gains are small (16-bit multiply-add path; weights are quantized to "
                "7 bits so its sums cannot saturate)")
    return "no 8-bit dot-product instructions found: INT8 may be slower than FP32"


def explain_int8_slowdown(recipe: dict, cpu: CpuFeatures | None = None) -> str:
    """Why an INT8 variant measured slower than FP32 here, from its recipe and the CPU flags."""
    cpu = cpu or cpu_features()
    reasons: list[str] = []
    if not cpu.int8_dot:
        reasons.append("this CPU has no 8-bit dot-product instructions (no VNNI/AMX/dotprod), so INT8 "
                       "kernels cannot beat FP32 SIMD")
    quant = recipe.get("quant")
    if quant == "int8-dynamic":
        reasons.append("dynamic quantization computes activation scales at run time and only quantizes "
                       "MatMul/Gemm; Conv layers gain little (it suits transformers and RNNs)")
    if quant == "int8-static":
        act, wt = recipe.get("activation_type"), recipe.get("weight_type")
        if cpu.is_x86 and act == "s8":
            reasons.append("S8 activations: x86 VNNI (VPDPBUSD) multiplies unsigned 8-bit by signed 8-bit, "
                           "so S8/S8 kernels add conversions; use U8 activations / S8 weights")
        if act == "u8" and wt == "u8":
            reasons.append("U8 weights: the fast x86 kernels take signed 8-bit weights; use S8 weights")
        if not recipe.get("preprocessed", True):
            reasons.append("the graph was not pre-processed (quant_pre_process fuses Conv+BN and infers "
                           "shapes), leaving extra quantize/dequantize pairs")
    if quant == "fp16" and not cpu.fp16_compute:
        reasons.append("no FP16 arithmetic on this CPU (no AVX512-FP16/AMX-FP16): ONNX Runtime inserts "
                       "casts around FP16 ops; FP16 pays off on GPUs")
    if not reasons:
        reasons.append("the model is too small for INT8 to outweigh quantize/dequantize overhead")
    return "; ".join(reasons)
