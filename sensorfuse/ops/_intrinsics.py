"""LLVM intrinsics for the Numba CPU kernels: software prefetches and relaxed atomic loads and stores.

``prefetch(a, idx)`` / ``prefetch_write(a, idx)``:

Gathers of rows in a data-dependent order (``bev_pool``'s feature rows read in cell order) are bound by memory
latency: the hardware prefetchers only follow strides. Asking for the row a few points ahead hides most of
it (docs/ops.md has the timings). Numba has no prefetch of its own, so this emits LLVM's ``llvm.prefetch``
(read, keep in all cache levels, data cache) on the element's address. The intrinsic is overloaded on the
pointer type, and its mangled name follows the pointer model of the LLVM that llvmlite ships:
``llvm.prefetch.p0`` with opaque pointers (LLVM 15 and newer), ``llvm.prefetch.p0i8`` before. A prefetch
never faults and never changes a result; it only moves data into the cache earlier.

``load_relaxed(a, i)`` / ``store_relaxed(a, i, v)``: an element of a 1-D integer array read or written as a
relaxed ("monotonic") atomic. One thread of a two-task parallel loop uses them to watch for the other's end
(``_voxel_numba._zero_while_running``): a plain load of a flag in a loop may be hoisted out of it, since
Numba tells LLVM that a parallel loop's arrays do not alias.
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
prefetch: Any = _make(0)
#: ``prefetch_write(arr, idx)``: the same, for a line about to be written (saves the read-for-ownership stall).
prefetch_write: Any = _make(1)


def _element_pointer(context: Any, builder: Any, aryty: Any, ary_val: Any, idx_val: Any, idx_ty: Any) -> Any:
    ary = context.make_array(aryty)(context, builder, ary_val)
    i = context.cast(builder, idx_val, idx_ty, types.intp)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [i], wraparound=False, boundscheck=True)


def _is_int_vector(arr: Any, i: Any) -> bool:
    return (
        isinstance(arr, types.Array)
        and arr.ndim == 1
        and isinstance(arr.dtype, types.Integer)
        and isinstance(i, types.Integer)
    )


def _load_relaxed(typingctx: Any, arr: Any, i: Any) -> Any:
    if not _is_int_vector(arr, i):
        return None
    sig = arr.dtype(arr, i)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        return builder.load_atomic(ptr, "monotonic", arr.dtype.bitwidth // 8)

    return sig, codegen


def _store_relaxed(typingctx: Any, arr: Any, i: Any, v: Any) -> Any:
    if not (_is_int_vector(arr, i) and isinstance(v, types.Integer)):
        return None
    sig = types.void(arr, i, v)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        val = context.cast(builder, args[2], signature.args[2], arr.dtype)
        builder.store_atomic(val, ptr, "monotonic", arr.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return sig, codegen


#: ``load_relaxed(arr, i)``: ``arr[i]`` (1-D integer array) as a relaxed atomic load, re-read every time.
load_relaxed: Any = intrinsic(_load_relaxed)
#: ``store_relaxed(arr, i, v)``: ``arr[i] = v`` (1-D integer array) as a relaxed atomic store.
store_relaxed: Any = intrinsic(_store_relaxed)
