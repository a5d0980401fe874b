#!/usr/bin/env bash
# Optional benchmark environment with the voxelizer peers (spconv CPU build, open3d.ml) beside sensorfuse.
# Not a runtime dependency: `python -m sensorfuse.bench.ops` measures each peer in this venv when the main
# .venv lacks it, and reports "not installed" when neither has it.
#   tools/setup_bench_env.sh               # creates .venv-bench next to .venv (about 2 minutes)
#   tools/setup_bench_env.sh --with-mmcv   # and builds mmcv 2.2.0's CPU ops from source (about 17 minutes
#                                          # on 2 cores: 77 C++ files against torch's headers)
#   tools/setup_bench_env.sh --with-mmdet3d  # a second venv, .venv-mmdet3d, with mmdet3d 1.4.0 for the peer of
#                                          # `python -m sensorfuse.bench.scale` (sensorfuse/bench/mmdet3d_peer.py)
# mmdet3d 1.4.0 and mmdet 3.3.0 refuse mmcv >= 2.2.0, hence their own venv. Its mmcv is mmcv-lite 2.1.0 (pure
# Python, a minute to install): the info generation (create_data.py) and the dataset never call mmcv's
# compiled ops, which the peer stubs (it says so in its report). MMCV_FROM_SOURCE=1 builds mmcv 2.1.0 with
# its ops instead (about 17 minutes on 2 cores).
# mmcv has no CPU wheel on PyPI for this torch: it builds from its source archive with setuptools<81 and
# --no-build-isolation (its setup.py imports torch); its runtime needs mmengine and opencv, pinned here to
# the last releases for numpy 1.x.
set -euo pipefail
WITH_MMCV=0
WITH_MMDET3D=0
for arg in "$@"; do
  case "$arg" in
    --with-mmcv) WITH_MMCV=1 ;;
    --with-mmdet3d) WITH_MMDET3D=1 ;;
    *) echo "usage: $0 [--with-mmcv] [--with-mmdet3d]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [ "$WITH_MMDET3D" = 1 ]; then
  MVENV=${VENV_MMDET3D:-.venv-mmdet3d}
  test -x "$MVENV/bin/python" || python3 -m venv "$MVENV"
  "$MVENV/bin/python" -m pip install -q --upgrade pip
  "$MVENV/bin/python" -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" "numpy>=1.24,<2" "nuscenes-devkit==1.2.0" \
    "mmengine==0.10.7" "opencv-python==4.11.0.86" addict yapf rich termcolor pycocotools scipy shapely \
    terminaltables six pyquaternion psutil numba "pandas<2.3" trimesh
  if [ "${MMCV_FROM_SOURCE:-0}" = 1 ]; then
    "$MVENV/bin/python" -m pip install -q "setuptools<81" wheel ninja
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
      "$MVENV/bin/python" -m pip install -q --no-build-isolation --no-deps "mmcv==2.1.0"
  else
    "$MVENV/bin/python" -m pip install -q --no-deps "mmcv-lite==2.1.0"
  fi
  # mmdet / mmdet3d (and the Lyft SDK that mmdet3d imports) without their optional heavy dependencies
  # (open3d, tensorboard, plotly, ...): what importing mmdet3d's datasets and create_data.py needs
  "$MVENV/bin/python" -m pip install -q --no-deps "mmdet==3.3.0" "mmdet3d==1.4.0" "lyft_dataset_sdk==0.0.8"
  "$MVENV/bin/python" -c "import mmdet3d, mmcv; print('mmdet3d', mmdet3d.__version__, 'mmcv', mmcv.__version__)"
  exit 0
fi
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
if [ "$WITH_MMCV" = 1 ]; then
  "$VENV/bin/python" -m pip install -q "setuptools<81" wheel ninja
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
    "$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps "mmcv==2.2.0"
  "$VENV/bin/python" -m pip install -q "mmengine==0.10.7" addict yapf "opencv-python==4.11.0.86" "numpy>=1.24,<2"
  "$VENV/bin/python" -c "from mmcv.ops import Voxelization; print('mmcv ok', Voxelization)"
fi

