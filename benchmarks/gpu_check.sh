#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU that reaches no package registry (about 5-8 minutes).
#
# That machine has PyTorch with CUDA, numpy, onnx, onnxruntime (CPU), nvidia-ml-py and psutil. The server
# and the settings need a few small pure-Python wheels (and pydantic-core): fetch them here first with
#   bash benchmarks/gpu_check.sh --fetch-wheels      (writes .whl/, ignored by git)
# then run on the GPU machine, from the repository root, with .whl carried:
#   bash benchmarks/gpu_check.sh                     (JSON into $OUT, else benchmarks/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="starlette uvicorn h11 httpx httpcore anyio sniffio idna certifi click pydantic pydantic-core
        pydantic-settings python-dotenv typing-inspection annotated-types filelock"
if [[ "${1:-}" == "--fetch-wheels" ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    for w in $WHEELS; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "$w"
    done
    ls -la .whl
    exit 0
fi
if [[ -d .whl ]] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 WORKBENCH_HOME="$(mktemp -d)"
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv > "$OUT/nvidia-smi.csv" || true
timeout 480 python3 benchmarks/gpu_check.py --out "$OUT" --budget-s 400 "$@" 2>&1 | tee "$OUT/gpu_check.log"
