"""Fast camera image loading: reduced-size JPEG decode, resize, bottom-aligned crop, intrinsics updated.

The output image is ``cfg.image_size`` = (H, W). The original image (W0 x H0) is scaled by ``s`` (default:
the smallest scale covering (H, W)) and cropped horizontally centred and vertically at the bottom (the sky
goes). When the scaled image is at most half the original, the JPEG is decoded at 1/2, 1/4 or 1/8 size
directly (libjpeg-turbo's DCT-domain scaling: several times faster than a full decode).

Decoding is strict (``simplejpeg``, libjpeg-turbo): a file that libjpeg can only half decode ("Corrupt JPEG
data: ...", "Premature end of JPEG file"), which OpenCV's ``imdecode`` would return as a partly grey image
with a warning on stderr, is a :class:`DataError` with ``reason="corrupt"`` that quotes the decoder. Entropy-
coded bytes that are wrong but still decode without a warning cannot be told from a real image this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

from sensorfuse.calib.camera import crop_intrinsics, scale_intrinsics
from sensorfuse.errors import ConfigError, DataError

#: decode reductions libjpeg does in the DCT domain
REDUCTIONS = (1, 2, 4, 8)
#: largest image accepted (pixels, 67 MP): a bigger size in a header is corruption, not a camera (nuScenes 1.44 MP,
#: 8K 33 MP); it also bounds what a corrupt header can make the decoder allocate
MAX_PIXELS = 1 << 26


@dataclass(frozen=True)
class ImagePlan:
    """How one original size maps to the output: decode reduction, resized size, crop offsets."""

    reduce: int
    resized_wh: tuple[int, int]
    crop_left: int
    crop_top: int


def plan_image(orig_wh: tuple[int, int], out_hw: tuple[int, int], scale: float | None) -> ImagePlan:
    w0, h0 = orig_wh
    h, w = out_hw
    s = max(w / w0, h / h0) if scale is None else scale
    rw, rh = round(w0 * s), round(h0 * s)
    if rw < w or rh < h:
        raise ConfigError(f"image_scale {s} gives {rw}x{rh}, smaller than the output {w}x{h}")
    reduce = 1
    for k in (2, 4, 8):
        if -(-w0 // k) >= rw and -(-h0 // k) >= rh:
            reduce = k
    return ImagePlan(reduce=reduce, resized_wh=(rw, rh), crop_left=(rw - w) // 2, crop_top=rh - h)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise DataError(path, f"cannot read image: {e}", "filename", reason="missing file") from e
    except OSError as e:
        raise DataError(path, f"cannot read image: {e}", "filename") from e


def jpeg_size(data: bytes, where: str | Path) -> tuple[int, int]:
    """(width, height) of JPEG bytes, their markers and header checked (no pixel decode).

    Args:
        data: the JPEG bytes (a file's, or a message's ``CompressedImage.data``).
        where: the file or record named in errors.

    Raises:
        DataError: ``reason`` ``empty file``, ``corrupt`` (no start marker, unreadable header), ``truncated``
            (no end marker) or ``implausible`` (more than :data:`MAX_PIXELS`), naming the check that failed.
    """
    if not data:
        raise DataError(where, "empty image file (0 bytes)", "image", reason="empty file")
    if data[:2] != b"\xff\xd8":
        raise DataError(where, "not a JPEG file (no start-of-image marker FFD8)", "image", reason="corrupt")
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise DataError(
            where, "truncated or corrupt JPEG (no end-of-image marker FFD9)", "image", reason="truncated"
        )
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
        raise DataError(
            where, f"corrupt JPEG header: the decoder says {e}", "image", reason="corrupt"
        ) from None
    w, h = int(w), int(h)
    if not 0 < w * h <= MAX_PIXELS:
        raise DataError(
            where,
            f"JPEG header gives {w}x{h} pixels (accepted: 1 to {MAX_PIXELS})",
            "width/height",
            reason="implausible",
        )
    return w, h


def decode_jpeg_bytes(
    data: bytes, where: str | Path, reduce: int = 1, bgr: bool = False, wh: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode JPEG bytes to RGB (or ``bgr``) uint8 (H, W, 3), optionally reduced by 2/4/8 during decode.

    The reduced size is ``ceil(W / reduce) x ceil(H / reduce)``, the same pixels as OpenCV's
    ``IMREAD_REDUCED_COLOR_k``. Decoding is strict: any warning of the decoder is a DataError
    (``reason="corrupt"``, with the decoder's text); see :func:`jpeg_size` for the other checks.

    Args:
        where: the file or record named in errors.
        wh: the (width, height) :func:`jpeg_size` gave for ``data``, if already known.
    """
    if reduce not in REDUCTIONS:
        raise ConfigError(f"JPEG decode reduction must be one of {REDUCTIONS}, got {reduce}")
    w, h = wh or jpeg_size(data, where)
    try:
        # strict: libjpeg's warnings (corrupt entropy data, premature end) raise instead of grey rows
        return simplejpeg.decode_jpeg(
            data,
            "bgr" if bgr else "rgb",
            min_factor=reduce,
            min_height=-(-h // reduce),
            min_width=-(-w // reduce),
            strict=True,
        )
    except ValueError as e:
        raise DataError(
            where, f"corrupt JPEG: the decoder (strict) says {e}", "image", reason="corrupt"
        ) from None


def decode_jpeg(path: Path, reduce: int = 1, bgr: bool = False) -> np.ndarray:
    """Decode a JPEG file (see :func:`decode_jpeg_bytes`); a missing file is ``reason="missing file"``."""
    return decode_jpeg_bytes(_read(path), path, reduce, bgr)


def load_camera_image(
    path: Path,
    intrinsics: np.ndarray,
    orig_wh: tuple[int, int] | None,
    out_hw: tuple[int, int],
    scale: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, 3) uint8 RGB at ``out_hw`` and its (3, 3) intrinsics.

    Args:
        path: the JPEG.
        intrinsics: K of the original image.
        orig_wh: original (width, height) from the sample_data record; None/0 = read from the file.
        out_hw: output (H, W).
        scale: resize factor (None = smallest covering ``out_hw``).
    """
    data = _read(path)
    file_wh = jpeg_size(data, path)
    if not orig_wh or not orig_wh[0] or not orig_wh[1]:
        orig_wh = file_wh
    if file_wh != tuple(orig_wh):
        raise DataError(
            path,
            f"image is {file_wh[0]}x{file_wh[1]} (JPEG header), the record says {orig_wh[0]}x{orig_wh[1]}",
            "width/height",
        )
    plan = plan_image(orig_wh, out_hw, scale)
    img = decode_jpeg_bytes(data, path, plan.reduce, wh=file_wh)  # RGB straight from the decoder
    w0, h0 = orig_wh
    expect = (-(-w0 // plan.reduce), -(-h0 // plan.reduce))
    if (img.shape[1], img.shape[0]) != expect:
        raise DataError(
            path,
            f"image is {img.shape[1]}x{img.shape[0]} after 1/{plan.reduce} decode, expected {expect[0]}x{expect[1]} (record says {w0}x{h0})",
            "width/height",
        )
    k = scale_intrinsics(intrinsics, img.shape[1] / w0, img.shape[0] / h0)
    rw, rh = plan.resized_wh
    if (rw, rh) != (img.shape[1], img.shape[0]):
        # after the reduced decode the remaining factor is > 1/2: bilinear does not alias and is ~10x
        # faster than INTER_AREA at non-integer ratios
        interp = cv2.INTER_AREA if rw < img.shape[1] / 2 else cv2.INTER_LINEAR
        k = scale_intrinsics(k, rw / img.shape[1], rh / img.shape[0])
        img = cv2.resize(img, (rw, rh), interpolation=interp)
    h, w = out_hw
    img = np.ascontiguousarray(img[plan.crop_top : plan.crop_top + h, plan.crop_left : plan.crop_left + w])
    return img, crop_intrinsics(k, plan.crop_left, plan.crop_top)
