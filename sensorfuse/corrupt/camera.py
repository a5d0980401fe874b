"""Camera corruptions as in RoboBEV / nuScenes-C (Xie et al., "RoboBEV: Towards Robust Bird's Eye View
Perception under Corruptions", 2023; ``corruptions/project/mmdet3d_plugin/corruptions.py``), three severities
(easy, mid, hard).

nuScenes-C builds most of them with the ``imagecorruptions`` package (Michaelis et al. 2019, the ImageNet-C
formulas of Hendrycks & Dietterich, ICLR 2019) at the levels of RoboBEV's ``docs/CREATE.md`` (e.g. Fog at
ImageNet-C levels 2, 4, 5). That package does not install here (it pins ``opencv-python``, which clashes with
the headless OpenCV, and calls scikit-image / SciPy APIs that are gone), so the formulas are re-implemented
with OpenCV and numpy, drawing from the given generator. Pixel sizes (blur radius, snow flake size) are
stated for the 1600 px wide nuScenes image and scaled to the sample's resized width; Frost uses a procedural
frost texture instead of the package's six photographs. Frost and Contrast are not among nuScenes-C's eight;
they use ImageNet-C levels 2, 4, 5 like Fog and Brightness.

A crashed or lost camera still delivers (black) frames: it is not marked absent, unlike ``camera_view_drop``.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from sensorfuse.corrupt.common import edit_images, level, pixels, present_cameras
from sensorfuse.structures import SensorSample

#: HSV value added (ImageNet-C brightness levels 2, 4, 5)
BRIGHTNESS = (0.2, 0.4, 0.5)
#: RoboBEV LowLight at its levels 2, 3, 4 (its table is indexed from 0, so these are entries 3-5):
#: (value range kept, Poisson photons, Gaussian read noise std)
DARK = ((0.40, 120.0, 0.018), (0.30, 50.0, 0.026), (0.20, 30.0, 0.038))
#: (fractal strength, wibble decay) of ImageNet-C fog levels 2, 4, 5
FOG = ((2.0, 2.0), (2.5, 1.5), (3.0, 1.4))
#: (image weight, frost weight) of ImageNet-C frost levels 2, 4, 5
FROST = ((0.8, 0.6), (0.65, 0.7), (0.6, 0.75))
#: ImageNet-C snow levels 1, 2, 3: (mean, std, zoom, threshold, blur radius, blur sigma, image weight)
SNOW = (
    (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
)
#: contrast factor (ImageNet-C contrast levels 2, 4, 5)
CONTRAST = (0.3, 0.1, 0.05)
#: (radius, sigma) px at 1600 px width (ImageNet-C motion blur levels 2, 4, 5)
MOTION_BLUR = ((15, 5.0), (15, 12.0), (20, 15.0))
#: bits kept per channel (RoboBEV ColorQuant: 5 - severity, levels 1, 2, 3)
QUANT_BITS = (4, 3, 2)
#: cameras crashed (black) of 6 (RoboBEV CameraCrash levels 2, 4, 5)
CRASHED = (2, 4, 5)
#: probability that a camera's frame is lost (black) (RoboBEV FrameLost: level / 6 at levels 2, 4, 5)
FRAME_LOST = (2 / 6, 4 / 6, 5 / 6)


def _float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255.0


def brightness(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Brightness: the HSV value channel raised by c. RoboBEV Brightness; severity 1/2/3: c = 0.2, 0.4, 0.5."""
    c = level(BRIGHTNESS, severity, "camera_brightness")

    def bright(img: np.ndarray, _i: int) -> np.ndarray:
        hsv = cv2.cvtColor(_float(img), cv2.COLOR_RGB2HSV)
        hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0

    return edit_images(sample, bright)


def dark(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Dark (low light): the range squeezed to [0, c] with gamma 2, then Poisson shot and Gaussian read noise.

    Reference: RoboBEV LowLight. Severity 1/2/3: c = 0.4, 0.3, 0.2; photons 120, 50, 30; read noise 0.018,
    0.026, 0.038.
    """
    c, photons, read = level(DARK, severity, "camera_dark")

    def low_light(img: np.ndarray, _i: int) -> np.ndarray:
        x = _float(img)
        lo, hi = float(x.min()), float(x.max())
        x = ((x - lo) / max(hi - lo, 1e-6)) ** 2 * c
        x = np.clip(rng.poisson(x * photons) / photons, 0, 1)
        return np.clip(x + rng.normal(0.0, read, x.shape), 0, 1) * 255.0

    return edit_images(sample, low_light)


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size) diamond-square height map in [0, 1] (``size`` a power of two), as ImageNet-C's fog."""
    m = np.zeros((size, size), np.float64)
    step, wibble = size, 100.0

    def wibbled(a: np.ndarray) -> np.ndarray:
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = m[0:size:step, 0:size:step]
        sq = corners + np.roll(corners, -1, axis=0)
        sq = sq + np.roll(sq, -1, axis=1)
        m[half:size:step, half:size:step] = wibbled(sq)
        dr = m[half:size:step, half:size:step]
        ul = m[0:size:step, 0:size:step]
        m[0:size:step, half:size:step] = wibbled(dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1))
        m[half:size:step, 0:size:step] = wibbled(dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0))
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / max(float(m.max()), 1e-12)


def fog(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Fog: a plasma-fractal haze added and the contrast compressed. RoboBEV Fog (ImageNet-C levels 2, 4, 5);
    severity 1/2/3: strength 2.0, 2.5, 3.0 with fractal decay 2.0, 1.5, 1.4."""
    strength, decay = level(FOG, severity, "camera_fog")

    def haze(img: np.ndarray, _i: int) -> np.ndarray:
        h, w = img.shape[:2]
        x = _float(img)
        top = float(x.max())
        size = 1 << int(np.ceil(np.log2(max(h, w, 2))))
        x = x + strength * plasma_fractal(size, decay, rng)[:h, :w, None].astype(np.float32)
        return np.clip(x * top / (top + strength), 0, 1) * 255.0

    return edit_images(sample, haze)


def frost_texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 procedural frost (0-255): a cloudy ice layer with thin bright crystal streaks."""
    size = 1 << int(np.ceil(np.log2(max(h, w, 2))))
    cloud = plasma_fractal(size, 1.8, rng)[:h, :w].astype(np.float32)
    streaks = np.zeros((h, w), np.float32)
    for _ in range(max(8, (h * w) // 400)):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        ang, length = rng.uniform(0, np.pi), rng.uniform(0.02, 0.12) * max(h, w)
        x1, y1 = int(x0 + length * np.cos(ang)), int(y0 + length * np.sin(ang))
        cv2.line(streaks, (x0, y0), (x1, y1), (float(rng.uniform(0.4, 1.0)),), 1)
    glow = np.asarray(cv2.GaussianBlur(streaks, (0, 0), 0.7), np.float32)
    ice = np.clip(0.45 * cloud + 0.2 + 0.6 * glow, 0, 1) * 255.0
    return ice[..., None] * np.array([0.88, 0.94, 1.0], np.float32)


def frost(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Frost: the image blended with a frost layer (``a * image + b * frost``). ImageNet-C frost levels 2, 4,
    5: (a, b) = (0.8, 0.6), (0.65, 0.7), (0.6, 0.75); procedural frost texture (see the module docstring)."""
    a, b = level(FROST, severity, "camera_frost")

    def frosted(img: np.ndarray, _i: int) -> np.ndarray:
        return a * img.astype(np.float32) + b * frost_texture(img.shape[0], img.shape[1], rng)

    return edit_images(sample, frosted)


def motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """ImageNet-C's motion-blur kernel: one-sided Gaussian weights (``sigma``) along a line of ``2 radius + 1``
    pixels at ``angle_deg``, as a (2R+1, 2R+1) correlation kernel for ``cv2.filter2D``."""
    width = 2 * radius + 1
    weights = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    k = np.zeros((2 * width + 1, 2 * width + 1), np.float32)
    c = width
    a = np.deg2rad(angle_deg)
    for i, wgt in enumerate(weights):
        dy = -int(np.ceil(i * np.sin(a) - 0.5))
        dx = -int(np.ceil(i * np.cos(a) - 0.5))
        k[c - dy, c - dx] += wgt
    return k


def _blur_line(img: np.ndarray, radius_1600: float, sigma_1600: float, angle: float) -> np.ndarray:
    w = img.shape[1]
    radius = max(1, round(pixels(radius_1600, w)))
    sigma = max(0.5, pixels(sigma_1600, w))
    return cv2.filter2D(img, -1, motion_kernel(radius, sigma, angle), borderType=cv2.BORDER_REPLICATE)


def motion_blur(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Motion blur along a random direction (±45°). RoboBEV MotionBlur (ImageNet-C levels 2, 4, 5); severity
    1/2/3: (radius, sigma) = (15, 5), (15, 12), (20, 15) px at 1600 px width, scaled to the image."""
    radius, sigma = level(MOTION_BLUR, severity, "camera_motion_blur")

    def blurred(img: np.ndarray, _i: int) -> np.ndarray:
        return _blur_line(img.astype(np.float32), radius, sigma, float(rng.uniform(-45, 45)))

    return edit_images(sample, blurred)


def snow(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Snow: a thresholded, zoomed noise layer of flakes smeared by motion blur, over a whitened image.

    RoboBEV Snow (ImageNet-C levels 1, 2, 3, see :data:`SNOW`); zoom and blur sizes scaled to the width.
    """
    mean, std, zoom, thr, radius, sigma, keep = level(SNOW, severity, "camera_snow")

    def snowy(img: np.ndarray, _i: int) -> np.ndarray:
        h, w = img.shape[:2]
        x = _float(img)
        z = max(1.0, pixels(zoom, w))
        small = rng.normal(mean, std, (int(np.ceil(h / z)), int(np.ceil(w / z)))).astype(np.float32)
        layer = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        layer[layer < thr] = 0
        layer = _blur_line(np.clip(layer, 0, 1), radius, sigma, float(rng.uniform(-135, -45)))
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
        x = keep * x + (1 - keep) * np.maximum(x, gray * 1.5 + 0.5)
        return np.clip(x + layer[..., None] + np.rot90(layer, 2)[..., None], 0, 1) * 255.0

    return edit_images(sample, snowy)


def contrast(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Contrast: pixels pulled towards the per-channel mean, ``(x - mean) * c + mean``. ImageNet-C contrast
    levels 2, 4, 5; severity 1/2/3: c = 0.3, 0.1, 0.05."""
    c = level(CONTRAST, severity, "camera_contrast")

    def flat(img: np.ndarray, _i: int) -> np.ndarray:
        x = img.astype(np.float32)
        mean = x.mean(axis=(0, 1), keepdims=True)
        return (x - mean) * c + mean

    return edit_images(sample, flat)


def color_quant(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Colour quantisation: each channel keeps its top b bits (PIL ``posterize``). RoboBEV ColorQuant;
    severity 1/2/3: 4, 3, 2 bits. Deterministic."""
    bits = level(QUANT_BITS, severity, "camera_color_quant")
    mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
    return edit_images(sample, lambda img, _i: img & mask)


def _black(sample: SensorSample, cameras: np.ndarray) -> SensorSample:
    if sample.cameras is None or len(cameras) == 0:
        return sample
    images = sample.cameras.images.copy()
    images[cameras] = 0
    return replace(sample, cameras=replace(sample.cameras, images=images))


def camera_crash(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Camera crash: k random cameras deliver black frames (still marked present: the model is not told).

    Reference: RoboBEV CameraCrash (it draws the k cameras with replacement; here without). Severity 1/2/3:
    2, 4, 5 of the 6 cameras.
    """
    k = level(CRASHED, severity, "camera_crash")
    idx = present_cameras(sample)
    return _black(sample, np.sort(rng.choice(idx, size=min(k, len(idx)), replace=False)))


def frame_lost(sample: SensorSample, severity: int, rng: np.random.Generator) -> SensorSample:
    """Frame lost: each camera's frame is black with probability p (still marked present).

    Reference: RoboBEV FrameLost. Severity 1/2/3: p = 2/6, 4/6, 5/6.
    """
    p = level(FRAME_LOST, severity, "camera_frame_lost")
    idx = present_cameras(sample)
    return _black(sample, idx[rng.random(len(idx)) < p])
