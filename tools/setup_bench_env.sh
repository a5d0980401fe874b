#!/usr/bin/env bash
# Optional benchmark environment with the voxelizer peers (spconv CPU build, open3d.ml) beside sensorfuse.
# Not a runtime dependency: `python -m sensorfuse.bench.ops` measures each peer in this venv when the main
# .venv lacks it, and reports "not installed" when neither has it.
#   tools/setup_bench_env.sh            # creates .venv-bench next to .venv
# mmcv's Voxelization is not installed: mmcv only builds from source here (>20 min, setuptools<81,
# --no-build-isolation); see docs/ops.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV_BENCH:-.venv-bench}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
test -x "$VENV/bin/python" || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC" "numpy>=1.24,<2" "numba>=0.59" pyyaml tqdm
# spconv's plain wheel is the CPU build; cumm 0.8 dropped what it needs.
"$VENV/bin/python" -m pip install -q "spconv==2.3.8" "cumm<0.8"
# open3d.ml.torch ships in the open3d-cpu wheel (needs Debian libusb-1.0-0 to import).
"$VENV/bin/python" -m pip install -q "open3d-cpu==0.20.0" || echo "open3d-cpu not installed (optional)"
"$VENV/bin/python" -c "import spconv.pytorch.utils as u; print('spconv ok', u.PointToVoxel)"
