"""Compile every numba.cuda kernel of ``sensorfuse.ops`` to PTX for sm_90 (H100/H200) without a GPU.

Numba's CUDA simulator runs the kernels as Python, so it never types or compiles them: a kernel that the
simulator runs can still fail to compile on a real GPU. NVIDIA's NVVM compiler (libnvvm + libdevice, from the
``nvidia-cuda-nvcc-cu12`` wheel) compiles them here, with the argument types the wrappers pass.

Executed by test_cuda_ptx.py in a subprocess with CUDA_HOME pointing at the NVVM install (numba reads it once).
Exit status 0 = every kernel compiled.
"""

from __future__ import annotations

import sys
import types as pytypes

import numba.cuda.dispatcher
from numba import cuda, types

# A kernel that calls a device function asks the current device for its compute capability; there is none.
numba.cuda.dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))

from sensorfuse.ops import _bev_cuda, _voxel_cuda  # noqa: E402

I64 = types.int64[::1]
I32 = types.int32[::1]
INT = types.int64


def signatures() -> list[tuple[str, object, tuple]]:
    """(name, kernel, argument types) for every kernel and every point / feature dtype the wrappers pass."""
    out = []
    for dt in (types.float32, types.float64):
        pts = dt[:, ::1]
        out += [
            ("voxel _keys_insert", _voxel_cuda._keys_insert,
             (pts, types.float64[::1], types.float64[::1], I64, INT, I64, I64, I64, I64, I64, I64)),
            ("voxel _firsts", _voxel_cuda._firsts, (I64, I64, I64)),
            ("voxel _assign", _voxel_cuda._assign, (I64, I64, I64, I64, I64, INT, I64, I32, I64, I64, I64)),
            ("voxel _slots", _voxel_cuda._slots, (I32, I64, I64, I64, INT, INT, I64)),
            ("voxel _voxel_out", _voxel_cuda._voxel_out,
             (pts, I64, I64, I64, I64, I64, INT, INT, INT, INT, dt[:, :, ::1], types.int32[:, ::1],
              types.int32[::1])),
            ("bev _forward_kernel", _bev_cuda._forward_kernel, (dt[:, :, ::1], types.int64[:, ::1], dt[:, :, ::1])),
            ("bev _backward_kernel", _bev_cuda._backward_kernel,
             (dt[:, :, ::1], types.int64[:, ::1], dt[:, :, ::1])),
        ]  # fmt: skip
    return out


def main() -> int:
    failed = 0
    for name, kernel, sig in signatures():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        except Exception as exc:  # report every kernel, then fail
            failed += 1
            print(f"FAIL {name} {sig[0]}: {type(exc).__name__}: {exc}")
            continue
        if ".entry" not in ptx:
            failed += 1
            print(f"FAIL {name} {sig[0]}: no kernel entry in the PTX")
    print(f"{len(signatures()) - failed} of {len(signatures())} kernels compiled to PTX for sm_90")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
