#!/usr/bin/env bash
# Issue 26's acceptance run on the CPU (docs/deploy.md, "The acceptance run: a quiet machine"): export the
# checkpoint's stage graphs once, replay every LiDAR sweep of a scene in each runtime, then one `bench
# latency` run with the three runtimes side by side. Run it on a quiet machine, nothing else beside it: the
# runtimes' ratios move with the load (PyTorch's OpenMP threads spin when a core is taken).
#
#   tools/measure_runtimes.sh CHECKPOINT DATAROOT VERSION SPLIT SCENE OUT
#   e.g. tools/measure_runtimes.sh /tmp/sf/train/checkpoints/last.pt /tmp/sf/world v1.0-mini mini_val scene-0103 /tmp/q/m1
#
# OUT gets onnx/ (the export), replay_<runtime>/ (latency.md, summary.json: end to end p50, max_lag_s),
# replay_compile_speed1/ (the recording's pace: does it keep up?), lat/ (latency.md: per-stage p50/p90/p99,
# speed-ups over eager), *.log, and load.txt (the time and load average at each step).
# RUNTIMES (default "compile eager onnxruntime") picks the replays; CONFIG the model config of bench latency
# (default sensorfuse/configs/synth_small.yaml); PYTHON the interpreter (default .venv/bin/python).
set -euo pipefail
if [ $# -ne 6 ]; then
  sed -n 2,15p "$0" >&2
  exit 2
fi
ckpt=$1 root=$2 version=$3 split=$4 scene=$5 out=$6
py=${PYTHON:-.venv/bin/python}
config=${CONFIG:-sensorfuse/configs/synth_small.yaml}
mkdir -p "$out"
stamp() { echo "$1 $(date -u +%H:%M:%S) $(uptime)" | tee -a "$out/load.txt"; }
stamp start
rm -rf "$out/onnx"
"$py" -m sensorfuse export onnx --checkpoint "$ckpt" --out "$out/onnx" --dataroot "$root" --version "$version" \
  --split "$split" --samples 3 > "$out/export.log" 2>&1
stamp "export done"
replay() {  # runtime, speed, out folder
  "$py" -m sensorfuse replay --dataroot "$root" --version "$version" --scene "$scene" --checkpoint "$ckpt" \
    --trigger sweep --speed "$2" --no-mp4 --no-rerun --runtime "$1" --onnx "$out/onnx" --out "$out/$3" \
    > "$out/$3.log" 2>&1
  stamp "replay $3 done"
}
for rt in ${RUNTIMES:-compile eager onnxruntime}; do
  replay "$rt" 0 "replay_$rt"
done
replay compile 1 replay_compile_speed1
"$py" -m sensorfuse bench latency --config "$config" --checkpoint "$ckpt" --dataroot "$root" --version "$version" \
  --split "$split" --runtime eager,compile,onnxruntime --frames 30 --warmup 5 --onnx "$out/onnx" --out "$out/lat" \
  > "$out/lat.log" 2>&1
stamp "bench done"
grep -h "end to end p50" "$out"/replay_*.log || true
