"""Camera JPEG decoding: corrupt files are named errors, valid files decode as OpenCV decodes them.

class: undetected corruption. A JPEG whose entropy-coded data is damaged but whose start/end markers are intact
used to decode (``cv2.imdecode``) to a partly grey image with only libjpeg's warning on stderr; the strict
decoder turns that warning into a ``DataError(reason="corrupt")`` quoting it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from sensorfuse.data.images import load_camera_image
from sensorfuse.errors import DataError
from sensorfuse.io.jpeg import REDUCTIONS, decode_jpeg, decode_jpeg_bytes

_OPENCV_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _jpeg(w: int = 320, h: int = 180) -> bytes:
    """A textured test image (gradients + noise) as a quality-90 JPEG."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)
    img = cv2.add(img, np.random.default_rng(0).integers(0, 40, img.shape, dtype=np.uint8))
    ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return enc.tobytes()


def _scan_middle(data: bytes) -> int:
    sos = data.index(b"\xff\xda")  # start of scan: the entropy-coded data follows
    return sos + (len(data) - sos) // 2


def _huge_frame_header() -> bytes:
    """A valid JPEG whose frame header (SOF0) claims 20000 x 20000 pixels."""
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
    return bytes(data)


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    # the scan cut in the middle, the end-of-image marker put back: OpenCV fills the rest with grey
    "cut_scan_eoi_kept": lambda d: d[: _scan_middle(d)] + b"\xff\xd9",
    # a stray restart marker inside the scan
    "stray_restart_marker": lambda d: d[: _scan_middle(d)] + b"\xff\xd3" + d[_scan_middle(d) :],
    # 200 entropy-coded bytes zeroed
    "zeroed_block": lambda d: d[: _scan_middle(d)] + b"\x00" * 200 + d[_scan_middle(d) + 200 :],
}


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_entropy_data_with_valid_markers_is_named(tmp_path: Path, kind: str, reduce: int) -> None:
    """class: undetected corruption. Valid SOI/EOI markers, damaged scan: DataError(reason="corrupt")."""
    data = CORRUPTIONS[kind](_jpeg())
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    # what OpenCV did with it: an image, no error (libjpeg's warning only on stderr)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), _OPENCV_REDUCED[reduce]) is not None
    p = tmp_path / "cam.jpg"
    p.write_bytes(data)
    with pytest.raises(DataError, match=r"cam\.jpg \[image\]: corrupt JPEG: .*Corrupt JPEG data") as e:
        decode_jpeg(p, reduce)
    assert e.value.reason == "corrupt"


def test_corrupt_jpeg_is_named_by_load_camera_image(tmp_path: Path) -> None:
    """class: undetected corruption. The camera loader (reduced decode, record size known) raises it too."""
    p = tmp_path / "cam.jpg"
    p.write_bytes(CORRUPTIONS["cut_scan_eoi_kept"](_jpeg()))
    for orig_wh in ((320, 180), None):
        with pytest.raises(DataError, match=r"cam\.jpg.*Corrupt JPEG data") as e:
            load_camera_image(p, np.eye(3), orig_wh, (45, 80), None)
        assert e.value.reason == "corrupt"


def test_bytes_decoder_names_the_record() -> None:
    """class: undetected corruption. JPEG bytes of a message (no file) are checked the same way."""
    data = CORRUPTIONS["zeroed_block"](_jpeg())
    with pytest.raises(DataError, match=r"msg-42 \[image\]: corrupt JPEG: .*Corrupt JPEG data") as e:
        decode_jpeg_bytes(data, "msg-42", 2)
    assert e.value.reason == "corrupt"
    assert decode_jpeg_bytes(_jpeg(), "msg-42", 2).shape == (90, 160, 3)


@pytest.mark.parametrize(
    ("data", "pattern", "reason"),
    [
        (b"", "empty", "empty file"),
        (b"GIF89a" + bytes(100), "start-of-image", "corrupt"),
        (_jpeg()[:5000], "end-of-image", "truncated"),
        (b"\xff\xd8" + bytes(64) + b"\xff\xd9", "header", "corrupt"),
        (_huge_frame_header(), "20000x20000 pixels", "implausible"),
    ],
)
def test_marker_and_header_checks_give_reasons(
    tmp_path: Path, data: bytes, pattern: str, reason: str
) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(data)
    with pytest.raises(DataError, match=rf"bad\.jpg.*{pattern}") as e:
        decode_jpeg(p)
    assert e.value.reason == reason


def test_missing_file_reason(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jpg") as e:
        decode_jpeg(tmp_path / "nope.jpg")
    assert e.value.reason == "missing file"


@pytest.mark.parametrize("wh", [(320, 180), (321, 181)])
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_valid_jpeg_decodes_as_opencv_did(tmp_path: Path, wh: tuple[int, int], reduce: int) -> None:
    """The strict decoder gives OpenCV's pixels and reduced sizes (ceil(W / k) x ceil(H / k))."""
    p = tmp_path / "ok.jpg"
    p.write_bytes(_jpeg(*wh))
    ref = cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), _OPENCV_REDUCED[reduce])
    rgb = decode_jpeg(p, reduce)
    assert rgb.dtype == np.uint8 and rgb.shape == (-(-wh[1] // reduce), -(-wh[0] // reduce), 3)
    assert np.abs(rgb.astype(int) - ref[..., ::-1]).max() <= 1
    assert np.array_equal(decode_jpeg(p, reduce, bgr=True), rgb[..., ::-1])


def test_load_camera_image_checks_size_against_the_record(tmp_path: Path) -> None:
    p = tmp_path / "cam.jpg"
    p.write_bytes(_jpeg(320, 180))
    img, k = load_camera_image(p, np.eye(3), (320, 180), (45, 80), None)
    assert img.shape == (45, 80, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    assert np.isclose(k[0, 0], 0.25) and np.isclose(k[1, 1], 0.25)  # 1/4 decode, no further resize
    with pytest.raises(DataError, match=r"cam\.jpg \[width/height\]: image is 320x180.*record says 1600x900"):
        load_camera_image(p, np.eye(3), (1600, 900), (45, 80), None)
