#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (Hopper: sm_90). Builds the C++
# core and the CUDA backend with plain CMake (no Node needed), runs the
# standalone native check (every kernel on CPU and CUDA over the same seeded
# inputs: worst error against tolerance, median time per kernel with CUDA
# events, fraction of the card's bandwidth or fp32 limit) and leaves the logs
# under $OUT (default ./gpu-out). Exit status: non-zero on any mismatch.
#   OUT=/some/dir bash dev/gpu-check.sh [filter]
set -uo pipefail
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
arch=${CUDA_ARCH:-90}
{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,driver_version --format=csv 2>&1 || true
  nvcc --version | tail -2
} > "$out/device.txt"
cat "$out/device.txt"
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
if ! cmake -S . -B build-gpu "${gen[@]}" -DPYVISION_RL_CUDA=on -DCMAKE_CUDA_ARCHITECTURES="$arch" > "$out/configure.log" 2>&1; then
  tail -30 "$out/configure.log"; echo "configure failed"; exit 2
fi
if ! cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1; then
  grep -E "error" "$out/build.log" | head -30; echo "build failed"; exit 2
fi
# H100 SXM measured copy bandwidth ~3.0 TB/s, H200 ~4.3 TB/s: the fraction uses the measured figure when given.
./build-gpu/pyvision_check "${1:-}" 2>&1 | tee "$out/check.txt"
status=${PIPESTATUS[0]}
echo "exit status $status" >> "$out/check.txt"
exit "$status"
