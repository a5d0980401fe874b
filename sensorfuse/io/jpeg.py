"""Strict JPEG decoding of bytes (a file's or a message's), with errors that name the source.

Decoding is strict (``simplejpeg``, libjpeg-turbo): a file that libjpeg can only half decode ("Corrupt JPEG
data: ...", "Premature end of JPEG file"), which OpenCV's ``imdecode`` would return as a partly grey image
with a warning on stderr, is a :class:`DataError` with ``reason="corrupt"`` that quotes the decoder. Entropy-
coded bytes that are wrong but still decode without a warning cannot be told from a real image this way.
Used by the nuScenes camera loader (:mod:`sensorfuse.data.images`) and the bag readers (``CompressedImage``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simplejpeg

from sensorfuse.errors import ConfigError, DataError

#: decode reductions libjpeg does in the DCT domain
REDUCTIONS = (1, 2, 4, 8)
#: largest image accepted (pixels, 67 MP): a bigger size in a header is corruption, not a camera (nuScenes 1.44 MP,
#: 8K 33 MP); it also bounds what a corrupt header can make the decoder allocate
MAX_PIXELS = 1 << 26


def read_image_bytes(path: Path) -> bytes:
    """The bytes of an image file; a missing file is ``reason="missing file"``."""
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
    return decode_jpeg_bytes(read_image_bytes(path), path, reduce, bgr)
