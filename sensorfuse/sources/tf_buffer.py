"""A small TF buffer: static transforms persist, dynamic ones are interpolated in time, chains are looked up.

Every edge is ``parent_from_child`` (:class:`~sensorfuse.sources.ros_msgs.StampedTransform`); a frame has
at most one parent, so the frames form a forest. ``lookup(target, source, t)`` walks both frames up to their
common ancestor and returns ``target_from_source`` (:mod:`sensorfuse.geometry` convention). Dynamic edges
(``/tf``) are interpolated at ``t`` (linear translation, slerp rotation) and held for at most
``max_extrapolation_ns`` outside their recorded span; static edges (``/tf_static``) hold at every time, so a
reader that loads ``/tf_static`` once keeps them across seeks. :class:`TransformTrack` is the same
interpolation for one pose stream (the ego pose from ``nav_msgs/Odometry``: ``global_from_ego`` at t).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform, matrix_to_quat, quat_to_matrix
from sensorfuse.sources.ros_msgs import StampedTransform

#: How long (ns) a dynamic transform is held past the first/last stamp before a lookup is called stale.
DEFAULT_MAX_EXTRAPOLATION_NS = 100_000_000


def slerp(q0: np.ndarray, q1: np.ndarray, a: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``(w, x, y, z)`` at fraction ``a`` (shortest arc)."""
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    th = np.arccos(d)
    return (np.sin((1 - a) * th) * q0 + np.sin(a * th) * q1) / np.sin(th)


class TransformTrack:
    """Stamped transforms of one edge (or the ego pose), interpolated at any time within the span.

    Args:
        where: the file (and topic) the stamps came from, for error messages.
        name: what the track is (``base_link -> lidar``, ``ego pose``), for error messages.
        max_extrapolation_ns: how far outside the recorded span a lookup is held at the nearest pose.
    """

    def __init__(
        self, where: str, name: str, max_extrapolation_ns: int = DEFAULT_MAX_EXTRAPOLATION_NS
    ) -> None:
        self.where, self.name, self.max_extrapolation_ns = where, name, max_extrapolation_ns
        self._items: list[tuple[int, Transform]] = []
        self._stamps = np.zeros(0, np.int64)
        self._quats = np.zeros((0, 4))
        self._trans = np.zeros((0, 3))
        self._dirty = False

    def add(self, stamp_ns: int, transform: Transform) -> None:
        self._items.append((int(stamp_ns), transform))
        self._dirty = True

    def __len__(self) -> int:
        return len(self._items)

    def _build(self) -> None:
        items = sorted(self._items, key=lambda it: it[0])
        self._stamps = np.array([s for s, _ in items], np.int64)
        self._quats = np.array([matrix_to_quat(t.rotation) for _, t in items]).reshape(-1, 4)
        self._trans = np.array([t.translation for _, t in items]).reshape(-1, 3)
        self._dirty = False

    @property
    def span_ns(self) -> tuple[int, int]:
        """First and last stamp (ns)."""
        if self._dirty:
            self._build()
        if not len(self._stamps):
            raise DataError(self.where, f"{self.name}: no transform recorded", reason="broken chain")
        return int(self._stamps[0]), int(self._stamps[-1])

    def at(self, t_ns: int) -> Transform:
        """The interpolated transform at ``t_ns``.

        Raises:
            DataError: (reason "stale") ``t_ns`` lies more than ``max_extrapolation_ns`` outside the span.
        """
        first, last = self.span_ns
        if t_ns < first - self.max_extrapolation_ns or t_ns > last + self.max_extrapolation_ns:
            raise DataError(
                self.where,
                f"{self.name}: no transform near t={t_ns} ns (recorded {first}..{last} ns, "
                f"held at most {self.max_extrapolation_ns * 1e-9:g} s outside)",
                reason="stale",
            )
        i = int(np.searchsorted(self._stamps, t_ns, side="right"))
        if i == 0 or i == len(self._stamps):
            j = 0 if i == 0 else -1
            return Transform.from_rt(quat_to_matrix(self._quats[j]), self._trans[j])
        s0, s1 = self._stamps[i - 1], self._stamps[i]
        a = float(t_ns - s0) / float(s1 - s0)
        q = slerp(self._quats[i - 1], self._quats[i], a)
        return Transform.from_rt(quat_to_matrix(q), (1 - a) * self._trans[i - 1] + a * self._trans[i])


class TfBuffer:
    """Transforms of a recording: static edges for all time, dynamic edges interpolated.

    Args:
        where: the recording's path, named in every error.
        max_extrapolation_ns: see :class:`TransformTrack`.
    """

    def __init__(self, where: str, max_extrapolation_ns: int = DEFAULT_MAX_EXTRAPOLATION_NS) -> None:
        self.where = where
        self.max_extrapolation_ns = max_extrapolation_ns
        self._static: dict[str, tuple[str, Transform]] = {}
        self._dynamic: dict[str, tuple[str, TransformTrack]] = {}

    def add(self, st: StampedTransform, static: bool) -> None:
        """Add one edge; a later static transform of the same edge replaces the earlier one.

        Raises:
            DataError: (reason "bad calibration") the child already has a different parent.
        """
        have = self.parent(st.child)
        if have is not None and have != st.parent:
            raise DataError(
                self.where,
                f"frame {st.child!r} has two parents, {have!r} and {st.parent!r}",
                "/tf_static" if static else "/tf",
                reason="bad calibration",
            )
        if static:
            self._static[st.child] = (st.parent, st.transform)
        else:
            if st.child not in self._dynamic:
                name = f"/tf {st.parent} -> {st.child}"
                self._dynamic[st.child] = (
                    st.parent,
                    TransformTrack(self.where, name, self.max_extrapolation_ns),
                )
            self._dynamic[st.child][1].add(st.stamp_ns, st.transform)

    def add_all(self, transforms: Iterable[StampedTransform], static: bool) -> None:
        for st in transforms:
            self.add(st, static)

    def parent(self, child: str) -> str | None:
        """The parent frame of ``child``, or None for a root or unknown frame."""
        if child in self._static:
            return self._static[child][0]
        if child in self._dynamic:
            return self._dynamic[child][0]
        return None

    @property
    def frames(self) -> set[str]:
        """Every frame named by an edge."""
        out = set(self._static) | set(self._dynamic)
        out |= {p for p, _ in self._static.values()} | {p for p, _ in self._dynamic.values()}
        return out

    def _edge(self, child: str, t_ns: int | None) -> Transform:
        if child in self._static:
            return self._static[child][1]
        parent, track = self._dynamic[child]
        if t_ns is None:
            raise DataError(
                self.where,
                f"frame {child!r} moves (/tf from {parent!r}): a lookup needs a time",
                "/tf",
                reason="broken chain",
            )
        return track.at(t_ns)

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while (p := self.parent(chain[-1])) is not None:
            if p in chain:
                raise DataError(
                    self.where,
                    f"transform cycle through {' -> '.join([*chain, p])}",
                    "/tf",
                    reason="broken chain",
                )
            chain.append(p)
        return chain

    def lookup(self, target: str, source: str, t_ns: int | None = None) -> Transform:
        """``target_from_source`` at ``t_ns`` (None: static edges only).

        Raises:
            DataError: (reason "broken chain", field "/tf_static") a frame is unknown or the two frames are
                not connected ("missing /tf_static for frame X"); (reason "stale") a dynamic edge has no data
                near ``t_ns``.
        """
        known = self.frames
        for f in (source, target):
            if f not in known:
                raise DataError(
                    self.where,
                    f"frame {f!r} is in no /tf or /tf_static message: missing /tf_static for frame {f} "
                    f"(known frames: {', '.join(sorted(known)) or 'none'})",
                    "/tf_static",
                    reason="broken chain",
                )
        up_s, up_t = self._chain(source), self._chain(target)
        common = next((f for f in up_s if f in set(up_t)), None)
        if common is None:
            raise DataError(
                self.where,
                f"frames {source!r} and {target!r} are not connected: {source!r} chains up to {up_s[-1]!r}, "
                f"{target!r} to {up_t[-1]!r}: missing /tf_static for frame {up_s[-1]}",
                "/tf_static",
                reason="broken chain",
            )
        root_from_source = Transform.identity()
        for child in up_s[: up_s.index(common)]:
            root_from_source = self._edge(child, t_ns) @ root_from_source
        root_from_target = Transform.identity()
        for child in up_t[: up_t.index(common)]:
            root_from_target = self._edge(child, t_ns) @ root_from_target
        return root_from_target.inverse() @ root_from_source
