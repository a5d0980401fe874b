"""Image, CompressedImage and CameraInfo messages → RGB uint8 (H, W, 3) and a checked K (pure, no I/O).

The camera frame is OpenCV's (x right, y down, z forward); K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.io.jpeg import decode_jpeg_bytes
from sensorfuse.sources.ros_msgs import frame_id, get, stamp_ns

#: sensor_msgs/Image encodings read: channels, numpy dtype, OpenCV conversion to RGB (None = as is).
IMAGE_ENCODINGS: dict[str, tuple[int, str, int | None]] = {
    "rgb8": (3, "u1", None),
    "bgr8": (3, "u1", cv2.COLOR_BGR2RGB),
    "rgba8": (4, "u1", cv2.COLOR_RGBA2RGB),
    "bgra8": (4, "u1", cv2.COLOR_BGRA2RGB),
    "mono8": (1, "u1", cv2.COLOR_GRAY2RGB),
    "8UC1": (1, "u1", cv2.COLOR_GRAY2RGB),
    "8UC3": (3, "u1", cv2.COLOR_BGR2RGB),
    "mono16": (1, "u2", cv2.COLOR_GRAY2RGB),
    "16UC1": (1, "u2", cv2.COLOR_GRAY2RGB),
    # ROS names the 2x2 pattern from the top-left pixel, OpenCV from the second row (as cv_bridge maps them)
    "bayer_rggb8": (1, "u1", cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": (1, "u1", cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": (1, "u1", cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": (1, "u1", cv2.COLOR_BayerGB2RGB),
}


def image_to_rgb(msg: Any, where: str) -> np.ndarray:
    """A ``sensor_msgs/Image`` → (H, W, 3) uint8 RGB. 16-bit images keep their high byte.

    Raises:
        DataError: an encoding not in :data:`IMAGE_ENCODINGS`, or ``data`` shorter than ``height * step``.
    """
    enc = str(msg.encoding)
    if enc not in IMAGE_ENCODINGS:
        raise DataError(
            where,
            f"image encoding {enc!r} is not supported; expected one of {', '.join(IMAGE_ENCODINGS)}",
            "encoding",
        )
    ch, code, conv = IMAGE_ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    dt = np.dtype(("<" if not msg.is_bigendian else ">") + code)
    data = np.frombuffer(msg.data, np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data
    if step < w * ch * dt.itemsize or data.size < h * step:
        raise DataError(
            where,
            f"image data has {data.size} bytes for {h} rows of step {step} ({w} x {ch} x {dt.itemsize} bytes per row)",
            "data",
            reason="truncated",
        )
    img: np.ndarray = np.ndarray((h, w, ch), dt, data, 0, (step, ch * dt.itemsize, dt.itemsize))
    if dt.itemsize == 2:
        img = (img >> 8).astype(np.uint8)
    img = np.ascontiguousarray(img)
    if conv is None:
        return img
    return cv2.cvtColor(img[:, :, 0] if ch == 1 else img, conv)


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_PNG = b"\x89PNG\r\n\x1a\n"


def compressed_to_rgb(data: bytes | np.ndarray, where: str, reduce: int = 1) -> np.ndarray:
    """JPEG or PNG bytes (``CompressedImage.data``) → (H, W, 3) uint8 RGB, optionally 1/2, 1/4, 1/8 size.

    JPEG goes through the strict decoder of the nuScenes camera files (:func:`sensorfuse.io.jpeg.decode_jpeg_bytes`:
    markers, header, and every libjpeg warning an error); PNG through OpenCV. The format is read from the
    bytes' signature, not the ``format`` string.
    """
    buf = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    head = buf[:8].tobytes()
    if head[:2] == b"\xff\xd8":
        return decode_jpeg_bytes(buf.tobytes(), where, reduce)
    if head == _PNG:
        if b"IEND" not in buf[-16:].tobytes():
            raise DataError(where, "truncated PNG (no IEND chunk)", "data", reason="truncated")
    else:
        raise DataError(
            where, f"image data starts with {head[:4].hex()}; expected JPEG (ffd8) or PNG", "data"
        )
    img = cv2.imdecode(buf, _REDUCED[reduce])
    if img is None or img.ndim != 3:
        raise DataError(where, "corrupt image: OpenCV could not decode it", "data", reason="corrupt")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------------------ calibration


@dataclass(frozen=True)
class CameraCalibration:
    """A camera's intrinsics (``sensor_msgs/CameraInfo`` or ``foxglove.CameraCalibration``).

    Attributes:
        frame_id, stamp_ns: the camera's optical frame (OpenCV: x right, y down, z forward) and stamp.
        width, height: image size in pixels the intrinsics refer to.
        intrinsics: (3, 3) float64 K.
        distortion_model: e.g. ``plumb_bob`` (empty when none); ``distortion`` its coefficients.
    """

    frame_id: str
    stamp_ns: int
    width: int
    height: int
    intrinsics: np.ndarray
    distortion_model: str
    distortion: np.ndarray

    @property
    def distorted(self) -> bool:
        """Whether any distortion coefficient is non-zero (the model assumes rectified images)."""
        return bool(np.any(self.distortion != 0))


def check_camera_matrix(k: Sequence[float] | np.ndarray, where: str, field: str = "k") -> np.ndarray:
    """K as (3, 3) float64, or DataError (reason "bad calibration") naming ``field``.

    Rejected: not 9 finite numbers, a focal length <= 0, a bottom row other than (0, 0, 1), a singular K.
    """
    a = np.asarray(k, dtype=np.float64).reshape(-1)
    if a.size != 9 or not np.isfinite(a).all():
        raise DataError(
            where, f"camera matrix must be 9 finite numbers, got {a.size}", field, reason="bad calibration"
        )
    m = a.reshape(3, 3)
    if m[0, 0] <= 0 or m[1, 1] <= 0:
        raise DataError(
            where,
            f"focal lengths must be > 0, got fx={m[0, 0]:g} fy={m[1, 1]:g} (an unset CameraInfo?)",
            field,
            reason="bad calibration",
        )
    if not np.allclose(m[2], [0, 0, 1]) or abs(np.linalg.det(m)) < 1e-9:
        raise DataError(
            where,
            f"camera matrix {m.tolist()} is singular or its last row is not [0, 0, 1]",
            field,
            reason="bad calibration",
        )
    return m


def camera_info(msg: Any, where: str) -> CameraCalibration:
    """A ``sensor_msgs/CameraInfo`` (ROS 2 ``k``/``d`` or ROS 1 ``K``/``D``)."""
    field = "k" if hasattr(msg, "k") else "K"
    k = check_camera_matrix(np.asarray(get(msg, "k", "K"), np.float64), where, field)
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0:
        raise DataError(where, f"image size {w}x{h} must be positive", "width", reason="bad calibration")
    return CameraCalibration(
        frame_id(msg.header.frame_id),
        stamp_ns(msg),
        w,
        h,
        k,
        str(msg.distortion_model),
        np.asarray(get(msg, "d", "D"), np.float64).reshape(-1),
    )
