"""``prefetch(a, idx)`` / ``prefetch_write(a, idx)``: software prefetches for the Numba CPU kernels.

Gathers of rows in a data-dependent order (``bev_pool``'s feature rows read in cell order) are bound by memory
latency: the hardware prefetchers only follow strides. Asking for the row a few points ahead hides most of
it (docs/ops.md has the timings). Numba has no prefetch of its own, so this emits LLVM's ``llvm.prefetch``
(read, keep in all cache levels, data cache) on the element's address. The intrinsic is overloaded on the
pointer type, and its mangled name follows the pointer model of the LLVM that llvmlite ships:
``llvm.prefetch.p0`` with opaque pointers (LLVM 15 and newer), ``llvm.prefetch.p0i8`` before. A prefetch
never faults and never changes a result; it only moves data into the cache earlier.
"""

from __future__ import annotations

from typing import Any, cast

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_PREFETCH = "llvm.prefetch.p0" if llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


def _make(rw: int) -> Any:
    """An intrinsic ``(arr, idx)`` → prefetch of the line holding ``arr[idx]`` (idx: an integer for 1-D
    arrays, a tuple of integers for N-D), for reading (``rw`` 0) or for writing (1)."""

    def impl(typingctx: Any, arr: Any, idx: Any) -> Any:
        if not isinstance(arr, types.Array):
            return None
        idx_types: tuple[Any, ...] = tuple(cast(Any, idx)) if isinstance(idx, types.BaseTuple) else (idx,)
        if len(idx_types) != arr.ndim or not all(isinstance(t, types.Integer) for t in idx_types):
            return None
        sig = types.void(arr, idx)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            vals = cgutils.unpack_tuple(builder, args[1]) if isinstance(idx, types.BaseTuple) else [args[1]]
            ind = [context.cast(builder, v, t, types.intp) for v, t in zip(vals, idx_types)]
            ptr = cgutils.get_item_pointer(
                context, builder, aryty, ary, ind, wraparound=False, boundscheck=False
            )
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
            # (address, rw, locality 3 = keep in all cache levels, cache type 1 = data)
            builder.call(fn, [builder.bitcast(ptr, cgutils.voidptr_t), i32(rw), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(impl)


#: ``prefetch(arr, idx)``: bring the line of ``arr[idx]`` into the cache for reading. No bounds check: the
#: address is only a hint, and prefetching any address is harmless.
prefetch = _make(0)
#: ``prefetch_write(arr, idx)``: the same, for a line about to be written (saves the read-for-ownership stall).
prefetch_write = _make(1)
