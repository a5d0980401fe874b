"""Fuzz the camera JPEG path (``decode_jpeg``, ``load_camera_image``): an image or sensorfuse's named error.

class: undetected corruption. Mutations of small valid JPEGs (baseline, progressive, with restart markers,
greyscale): byte edits anywhere, half of them aimed at the segments before the scan (quantisation and Huffman
tables, the frame header) or at the frame's width/height bytes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg
from binary_mutations import Region, check_outcome, mutated
from fuzz_budget import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from sensorfuse.data.images import load_camera_image
from sensorfuse.io.jpeg import REDUCTIONS, decode_jpeg

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy warning may leak from the decoder
W, H = 48, 32


def _seed(params: list[int], grey: bool = False) -> bytes:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([xx * 5, yy * 7, (xx * yy) % 256], -1).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if grey else img, params)
    assert ok
    return enc.tobytes()


def _regions(data: bytes) -> list[Region]:
    """The segments before the scan, and the frame header's height/width bytes."""
    sof = next(i for i in (data.find(m) for m in (b"\xff\xc0", b"\xff\xc2")) if i > 0)
    return [(0, data.index(b"\xff\xda") + 14), (sof + 5, sof + 9)]


SEEDS = {
    "baseline": _seed([cv2.IMWRITE_JPEG_QUALITY, 90]),
    "progressive": _seed([cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    "restart": _seed([cv2.IMWRITE_JPEG_RST_INTERVAL, 2]),
    "grey": _seed([], grey=True),
}
MUTATED = st.sampled_from(list(SEEDS)).flatmap(lambda k: mutated(SEEDS[k], _regions(SEEDS[k])))


@FUZZ
@given(data=MUTATED, reduce=st.sampled_from(REDUCTIONS))
def test_fuzz_decode_jpeg(tmp_path: Path, data: bytes, reduce: int) -> None:
    """class: undetected corruption. decode_jpeg at every reduction."""
    p = tmp_path / "cam.jpg"
    p.write_bytes(data)
    img = check_outcome(lambda: decode_jpeg(p, reduce), p)
    if img is not None:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        assert img.dtype == np.uint8 and img.shape == (-(-h // reduce), -(-w // reduce), 3)


@FUZZ
@given(
    data=MUTATED,
    record_wh=st.sampled_from([(W, H), None]),
    out_hw=st.sampled_from([(32, 48), (16, 24), (8, 12), (5, 7)]),
)
def test_fuzz_load_camera_image(
    tmp_path: Path, data: bytes, record_wh: tuple[int, int] | None, out_hw: tuple[int, int]
) -> None:
    """class: undetected corruption. The camera loader (reduced decode, resize, crop, intrinsics)."""
    p = tmp_path / "cam.jpg"
    p.write_bytes(data)
    k = np.array([[40.0, 0.0, 24.0], [0.0, 40.0, 16.0], [0.0, 0.0, 1.0]])
    out = check_outcome(lambda: load_camera_image(p, k, record_wh, out_hw, None), p)
    if out is not None:
        img, k_out = out
        assert img.dtype == np.uint8 and img.shape == (*out_hw, 3)
        assert k_out.shape == (3, 3) and np.isfinite(k_out).all()
