"""LLVM intrinsics for the Numba CPU kernels: software prefetches, non-temporal line stores, a population count
and atomic loads and stores (relaxed, acquire / release).

``prefetch(a, idx)`` / ``prefetch_write(a, idx)``:

Gathers of rows in a data-dependent order (``bev_pool``'s feature rows read in cell order) are bound by memory
latency: the hardware prefetchers only follow strides. Asking for the row a few points ahead hides most of
it (docs/ops.md has the timings). Numba has no prefetch of its own, so this emits LLVM's ``llvm.prefetch``
(read, keep in all cache levels, data cache) on the element's address. The intrinsic is overloaded on the
pointer type, and its mangled name follows the pointer model of the LLVM that llvmlite ships:
``llvm.prefetch.p0`` with opaque pointers (LLVM 15 and newer), ``llvm.prefetch.p0i8`` before. A prefetch
never faults and never changes a result; it only moves data into the cache earlier.

``stream_line(dst, i, src, j)`` / ``store_fence()``: one 64-byte non-temporal store (``!nontemporal``:
``vmovntps``/``vmovntpd`` on x86) of ``src[j:j + L]`` to ``dst[i:i + L]``, L = 64 / itemsize, for outputs that are
written once and not read again soon: the line goes to memory without first being read for ownership. The
destination must be 64-byte aligned (an unaligned vector store of this kind faults on x86): callers allocate
for it and check. ``store_fence()`` (``sfence`` on x86, a fence elsewhere) orders those stores before the
kernel returns.

``popcount(x)``: the number of set bits of an integer (LLVM's ``llvm.ctpop``: one ``popcnt`` on x86), for rank
queries on bitmaps.

``load_relaxed(a, i)`` / ``store_relaxed(a, i, v)``: an element of a 1-D integer array read or written as a
relaxed ("monotonic") atomic. The two threads of ``_voxel_numba._keys_and_head`` use them to see how far the
other has come: a plain load of a flag in a loop may be hoisted out of it, since Numba tells LLVM that a
parallel loop's arrays do not alias. ``load_acquire`` / ``store_release`` are the same with acquire / release
ordering, for a flag that publishes data: what the storing thread wrote before ``store_release`` is visible to a
thread after its ``load_acquire`` has read the flag.
"""

from __future__ import annotations

import math
import platform
from typing import Any, cast

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_PREFETCH = "llvm.prefetch.p0" if llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
LINE_BYTES = 64


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


def _atomic_load(ordering: str) -> Any:
    def impl(typingctx: Any, arr: Any, i: Any) -> Any:
        if not _is_int_vector(arr, i):
            return None
        sig = arr.dtype(arr, i)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
            return builder.load_atomic(ptr, ordering, arr.dtype.bitwidth // 8)

        return sig, codegen

    return impl


def _atomic_store(ordering: str) -> Any:
    def impl(typingctx: Any, arr: Any, i: Any, v: Any) -> Any:
        if not (_is_int_vector(arr, i) and isinstance(v, types.Integer)):
            return None
        sig = types.void(arr, i, v)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
            val = context.cast(builder, args[2], signature.args[2], arr.dtype)
            builder.store_atomic(val, ptr, ordering, arr.dtype.bitwidth // 8)
            return context.get_dummy_value()

        return sig, codegen

    return impl


#: ``load_relaxed(arr, i)``: ``arr[i]`` (1-D integer array) as a relaxed atomic load, re-read every time.
load_relaxed: Any = intrinsic(_atomic_load("monotonic"))
#: ``store_relaxed(arr, i, v)``: ``arr[i] = v`` (1-D integer array) as a relaxed atomic store.
store_relaxed: Any = intrinsic(_atomic_store("monotonic"))
#: ``load_acquire(arr, i)``: ``arr[i]`` as an acquire load: what the thread that stored it with
#: ``store_release`` wrote before that store is visible after this load.
load_acquire: Any = intrinsic(_atomic_load("acquire"))
#: ``store_release(arr, i, v)``: ``arr[i] = v`` as a release store (see ``load_acquire``).
store_release: Any = intrinsic(_atomic_store("release"))


def _stream_line(typingctx: Any, dst: Any, i: Any, src: Any, j: Any) -> Any:
    ok = (
        isinstance(dst, types.Array)
        and isinstance(src, types.Array)
        and dst.ndim == src.ndim == 1
        and dst.layout == src.layout == "C"  # the vector load and store assume contiguous elements
        and dst.dtype == src.dtype
        and dst.dtype in (types.float32, types.float64)
        and isinstance(i, types.Integer)
        and isinstance(j, types.Integer)
    )
    if not ok:
        return None
    sig = types.void(dst, i, src, j)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        dty, ity, sty, jty = signature.args
        lanes = LINE_BYTES // (dty.dtype.bitwidth // 8)
        dptr = _element_pointer(context, builder, dty, args[0], args[1], ity)
        sptr = _element_pointer(context, builder, sty, args[2], args[3], jty)
        for aty, a, idx, idx_ty in ((dty, args[0], args[1], ity), (sty, args[2], args[3], jty)):  # last lane
            last = builder.add(
                context.cast(builder, idx, idx_ty, types.intp),
                ir.Constant(context.get_value_type(types.intp), lanes - 1),
            )
            _element_pointer(context, builder, aty, a, last, types.intp)
        vec = ir.VectorType(context.get_value_type(dty.dtype), lanes)
        value = builder.load(builder.bitcast(sptr, vec.as_pointer()), align=dty.dtype.bitwidth // 8)
        store = builder.store(value, builder.bitcast(dptr, vec.as_pointer()), align=LINE_BYTES)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()

    return sig, codegen


def _store_fence(typingctx: Any) -> Any:
    sig = types.void()

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence"
            )
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


#: ``stream_line(dst, i, src, j)``: ``dst[i:i + L] = src[j:j + L]`` (1-D float32/float64, L = 64 / itemsize)
#: as one non-temporal 64-byte store. ``&dst[i]`` must be 64-byte aligned; both ranges are bounds-checked.
stream_line: Any = intrinsic(_stream_line)
#: ``store_fence()``: make the non-temporal stores before it visible before any store after it.
store_fence: Any = intrinsic(_store_fence)


def _popcount(typingctx: Any, x: Any) -> Any:
    if not isinstance(x, types.Integer):
        return None
    sig = x(x)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return sig, codegen


#: ``popcount(x)``: set bits of the integer ``x``, in ``x``'s type.
popcount: Any = intrinsic(_popcount)


@njit(cache=True)
def line_aligned(n, like):  # type: ignore[no-untyped-def]
    """An uninitialised 1-D array of ``n`` elements of ``like``'s dtype whose first element starts a 64-byte
    line, for ``stream_line`` (numpy and Numba align to 16 bytes). Callable inside kernels."""
    size = like.itemsize
    buf = np.empty(n + LINE_BYTES // size, like.dtype)
    skip = ((LINE_BYTES - buf.ctypes.data % LINE_BYTES) % LINE_BYTES) // size
    return buf[skip : skip + n]


def line_aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``line_aligned`` for a C-contiguous array of any shape, from Python."""
    out: np.ndarray = line_aligned(math.prod(shape), np.empty(0, dtype)).reshape(shape)
    return out
