#!/usr/bin/env bash
# Issue 4's GPU checks as one short run: the CUDA tests, then the ops benchmark with its GPU part (CUDA
# voxelize checked identical to the Numba backend and timed against the 0.1 ms target; bev_pool's CUDA
# forward). Written for a lent GPU machine whose python3 already holds torch with CUDA, numba, numba-cuda,
# pytest and hypothesis (nothing is installed: such a machine reaches no package index).
# Then issue 26's deployment part: per-stage latency of the small and the BEVFusion-sized configs in each
# runtime side by side (eager, torch.compile, and -- where python3 has onnxruntime-gpu -- ONNX Runtime's CUDA
# and TensorRT execution providers, the graphs exported on the fly and checked against PyTorch): deploy_*/.
# DEPLOY=0 skips it, ONLY_DEPLOY=1 runs only it.
#
#   bash tools/device_check.sh --prepare   # here, once: the real LiDAR keyframe into .devdata/ (git-ignored)
#   bash tools/device_check.sh OUT_DIR     # there (the device tool: carry [".devdata"], command with "$OUT")
#
# OUT_DIR gets gpu.txt (device, versions), cuda_tests.log, bench.log, ops_gpu.json and ops_gpu.md, and
# profile_cuda.txt/.json (tools/profile_cuda.py: host latency, GPU activities and busy time per call), and
# deploy_small/ + deploy_bevfusion/ (latency.json/.md: per-stage p50/p90/p99 per runtime, speed-ups over
# eager) with deploy.log. Exit status: 2 when torch sees no CUDA device (ALLOW_NO_GPU=1: a dry run of the rest
# on the CPU, the deployment part shrunk to a few frames), else non-zero when the tests, the benchmark or the
# deployment latency runs failed. PYTHON overrides the interpreter (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
  src=${SENSORFUSE_REALDATA:-../shared/realdata}/nuscenes-mini-sample
  mkdir -p .devdata/nuscenes-mini-sample
  cp "$src"/*LIDAR_TOP*.pcd.bin .devdata/nuscenes-mini-sample/ || exit 1
  grep -qx '/.devdata/' .git/info/exclude 2>/dev/null || echo '/.devdata/' >>.git/info/exclude
  echo "prepared .devdata/ ($(du -sh .devdata | cut -f1)); carry it with the run"
  exit 0
fi
out=${1:?usage: tools/device_check.sh --prepare | OUT_DIR}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -d .devdata/nuscenes-mini-sample ]; then
  export SENSORFUSE_REALDATA="$PWD/.devdata"
else
  echo "no .devdata/ (run --prepare here first): the benchmark's real-cloud rows are skipped" >&2
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  "$py" -c 'import numba, numpy, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"torch {torch.__version__}, numba {numba.__version__}, numpy {numpy.__version__}, {gpu}")'
} 2>&1 | tee "$out/gpu.txt"
if ! "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  # the point of this run is the GPU: without one the CUDA tests skip and the GPU part is "not measured"
  echo "no CUDA device seen by torch: stopping (ALLOW_NO_GPU=1 runs the rest anyway, as a dry run)" >&2
  [ "${ALLOW_NO_GPU:-0}" = 1 ] || exit 2
fi
tests=0 bench=0 profile=0 deploy=0
if [ "${ONLY_DEPLOY:-0}" != 1 ]; then
  "$py" -m pytest -m cuda tests/ops -p no:cacheprovider 2>&1 | tee "$out/cuda_tests.log"
  tests=${PIPESTATUS[0]}
  "$py" -m sensorfuse.bench.ops --here --out "$out/ops_gpu.json" 2>&1 | tee "$out/bench.log"
  bench=${PIPESTATUS[0]}
  # diagnostics only (not in the exit status): where a CUDA voxelize call's time goes
  "$py" tools/profile_cuda.py "$out" 2>&1 | tee "$out/profile.log"
  profile=${PIPESTATUS[0]}
fi
if [ "${DEPLOY:-1}" != 0 ]; then
  # issue 26: runtimes side by side, per stage. The runtimes this python3 can run: onnxruntime (CUDA EP) and
  # tensorrt (ORT's TensorRT EP) only where onnxruntime-gpu is installed with those providers.
  if "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    dev=cuda small=(--frames 50 --warmup 10) big=(--frames 20 --warmup 5)
    runtimes=eager,compile
    eps=$("$py" -c 'import onnxruntime as o; print(" ".join(o.get_available_providers()))' 2>/dev/null)
    case " $eps " in *" CUDAExecutionProvider "*) runtimes=$runtimes,onnxruntime ;; esac
    case " $eps " in *" TensorrtExecutionProvider "*) runtimes=$runtimes,tensorrt ;; esac
    big_runtimes=$runtimes
  else  # dry run on the CPU: the same commands, a few frames, no compile (minutes of inductor on 2 cores)
    dev=cpu small=(--frames 2 --warmup 1) big=(--frames 1 --warmup 0 --synthetic-points 30000)
    runtimes=eager,onnxruntime big_runtimes=eager
  fi
  echo "deployment latency on $dev: small config [$runtimes], BEVFusion-sized config [$big_runtimes]" | tee "$out/deploy.log"
  "$py" -m sensorfuse bench latency --config sensorfuse/configs/synth_small.yaml --device "$dev" \
    --runtime "$runtimes" "${small[@]}" --out "$out/deploy_small" 2>&1 | tee -a "$out/deploy.log"
  d1=${PIPESTATUS[0]}
  "$py" -m sensorfuse bench latency --config sensorfuse/configs/nuscenes_bevfusion.yaml --device "$dev" \
    --runtime "$big_runtimes" "${big[@]}" --out "$out/deploy_bevfusion" 2>&1 | tee -a "$out/deploy.log"
  d2=${PIPESTATUS[0]}
  [ "$d1" = 0 ] && [ "$d2" = 0 ] || deploy=1
fi
echo "cuda tests: exit $tests; benchmark: exit $bench; profile: exit $profile; deployment latency: exit $deploy"
[ "$tests" = 0 ] && [ "$bench" = 0 ] && [ "$deploy" = 0 ]
