"""RoboBEV / ImageNet-C camera corruptions change pixel statistics the way they say (class: corruption not
doing what it states), monotonic in severity where the paper's is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sensorfuse.corrupt import camera
from sensorfuse.corrupt.common import pixels
from sensorfuse.structures import SensorSample


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def imgs(s: SensorSample) -> np.ndarray:
    assert s.cameras is not None
    return s.cameras.images.astype(np.float64)


def per_severity(fn, sample: SensorSample, stat) -> list[float]:  # type: ignore[no-untyped-def]
    return [float(stat(imgs(fn(sample, k, rng())))) for k in (1, 2, 3)]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_brightness_raises_and_dark_lowers_the_mean(sample: SensorSample) -> None:
    clean = imgs(sample).mean()
    up = per_severity(camera.brightness, sample, np.mean)
    down = per_severity(camera.dark, sample, np.mean)
    assert clean < up[0] < up[1] < up[2]
    assert clean > down[0] > down[1] > down[2]


def test_contrast_shrinks_the_spread_around_the_channel_means(sample: SensorSample) -> None:
    clean = imgs(sample)
    std = per_severity(camera.contrast, sample, lambda x: x.std(axis=(1, 2)).mean())
    assert clean.std(axis=(1, 2)).mean() > std[0] > std[1] > std[2]
    out = imgs(camera.contrast(sample, 1, rng()))
    np.testing.assert_allclose(out.mean(axis=(1, 2)), clean.mean(axis=(1, 2)), atol=1.0)


@pytest.mark.parametrize("fn", [camera.fog, camera.frost])
def test_fog_and_frost_hide_more_of_the_scene_at_higher_severity(sample: SensorSample, fn) -> None:  # type: ignore[no-untyped-def]
    clean = imgs(sample)
    c = [corr(clean, imgs(fn(sample, k, rng()))) for k in (1, 2, 3)]
    assert 1.0 > c[0] > c[2] and c[0] > c[1] - 0.02, c


def test_snow_whitens_the_image_more_when_heavier(sample: SensorSample) -> None:
    """Level 1 whitens least; levels 2 and 3 trade flake count (threshold 0.5 vs 0.9) for flake brightness
    and streak length, and their means agree within 1% on these small images."""
    clean = imgs(sample).mean()
    m = per_severity(camera.snow, sample, np.mean)
    assert clean < m[0] < min(m[1], m[2]) and abs(m[1] - m[2]) < 0.01 * m[1]


def test_motion_blur_removes_more_detail_at_higher_severity(sample: SensorSample) -> None:
    def detail(x: np.ndarray) -> float:
        return float(np.mean([np.abs(cv2.Laplacian(im.astype(np.float32), cv2.CV_32F)).mean() for im in x]))

    d = per_severity(camera.motion_blur, sample, detail)
    assert detail(imgs(sample)) > d[0] > d[1] > d[2]
    out = imgs(camera.motion_blur(sample, 3, rng()))
    assert abs(out.mean() - imgs(sample).mean()) < 2.0  # a blur moves light, it does not add any


def test_motion_kernel_is_normalised_and_scaled_to_the_image_width() -> None:
    k = camera.motion_kernel(3, 2.0, 0.0)
    assert k.sum() == pytest.approx(1.0) and np.count_nonzero(k) == 7
    assert np.count_nonzero(k[k.shape[0] // 2]) == 7  # a horizontal streak for angle 0
    assert pixels(15, 352) == pytest.approx(3.3) and pixels(15, 1600) == 15


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_color_quant_keeps_the_stated_bits(sample: SensorSample, sev: int) -> None:
    bits = camera.QUANT_BITS[sev - 1]
    out = camera.color_quant(sample, sev, rng()).cameras.images  # type: ignore[union-attr]
    assert np.all(out % (1 << (8 - bits)) == 0)
    assert len(np.unique(out)) <= 1 << bits
    assert np.all(out <= sample.cameras.images)  # type: ignore[union-attr]


@pytest.mark.parametrize("sev", [1, 2, 3])
def test_camera_crash_blacks_out_k_cameras_still_present(sample: SensorSample, sev: int) -> None:
    out = camera.camera_crash(sample, sev, rng(sev)).cameras
    assert out is not None and out.present.all()
    black = [i for i in range(6) if not out.images[i].any()]
    assert len(black) == camera.CRASHED[sev - 1]
    for i in set(range(6)) - set(black):
        assert np.array_equal(out.images[i], sample.cameras.images[i])  # type: ignore[union-attr]


def test_frame_lost_rate_matches_the_probability(sample: SensorSample) -> None:
    rates = []
    for sev in (1, 2, 3):
        lost = [
            int((~camera.frame_lost(sample, sev, rng(seed)).cameras.images.any(axis=(1, 2, 3))).sum())
            for seed in range(40)
        ]  # type: ignore[union-attr]
        rates.append(sum(lost) / (6 * 40))
        assert rates[-1] == pytest.approx(camera.FRAME_LOST[sev - 1], abs=0.08)
    assert rates[0] < rates[1] < rates[2]


def test_absent_cameras_are_left_alone(sample: SensorSample) -> None:
    """Rows of absent cameras are undefined: a corruption does not write them (nor revive the camera)."""
    cams = sample.cameras
    assert cams is not None
    cams.present[2] = False
    for fn in (camera.fog, camera.brightness, camera.camera_crash):
        out = fn(sample, 3, rng()).cameras
        assert out is not None and not out.present[2]
        assert np.array_equal(out.images[2], cams.images[2])
