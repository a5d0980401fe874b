"""Camera rendering with OpenCV: sky, ground, road with lane markings, actors as shaded boxes.

Everything is drawn with the rig's intrinsics/extrinsics (pinhole, undistorted). Polygons are clipped at
the near plane in the camera frame; actors are painted far to near (painter's algorithm), each face shaded
by its orientation, in a colour that is distinct per class (:data:`CLASS_COLORS`, RGB).
"""

from __future__ import annotations

import cv2
import numpy as np

from sensorfuse.boxes import box_corners
from sensorfuse.geometry import Transform
from sensorfuse.synth.world import Ego

#: RGB base colour per category prefix / detection class (faces are shaded 0.55-1.0 of it)
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "car": (220, 30, 30),
    "truck": (30, 30, 220),
    "construction_vehicle": (240, 200, 0),
    "bus": (255, 120, 0),
    "trailer": (140, 60, 200),
    "barrier": (240, 240, 240),
    "motorcycle": (0, 200, 200),
    "bicycle": (0, 220, 60),
    "pedestrian": (255, 0, 200),
    "traffic_cone": (255, 80, 120),
    "other": (120, 90, 60),
}
SKY, GROUND, ASPHALT, MARKING = (150, 190, 235), (95, 120, 80), (70, 70, 75), (235, 235, 225)
NEAR = 0.3
# face corner indices (box_corners order: 0-3 top, 4-7 bottom) and outward normals in the box frame
FACES = ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (3, 2, 6, 7), (0, 3, 7, 4), (1, 2, 6, 5))
FACE_INDEX = np.array(FACES)
NORMALS = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float64)
LIGHT = np.array([0.4, 0.3, 0.85]) / np.linalg.norm([0.4, 0.3, 0.85])


def _clip(poly: np.ndarray) -> np.ndarray:
    """Clip a polygon (K, 3) in the camera frame at z >= NEAR (Sutherland-Hodgman, one plane)."""
    out = []
    k = len(poly)
    for i in range(k):
        a, b = poly[i], poly[(i + 1) % k]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            f = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + f * (b - a))
    return np.array(out).reshape(-1, 3)


def _project(poly_cam: np.ndarray, k: np.ndarray) -> np.ndarray | None:
    """Clip and project a polygon (K, 3) → pixel polygon (L, 1, 2) int32 in 1/16 px, or None."""
    p = poly_cam if poly_cam[:, 2].min() >= NEAR else _clip(poly_cam)
    if len(p) < 3:
        return None
    uv = p @ k.T
    uv = np.clip(uv[:, :2] / uv[:, 2:3], -1e5, 1e5)
    return np.round(uv * 16).astype(np.int32).reshape(-1, 1, 2)


def _fill(img: np.ndarray, polys_cam: list[np.ndarray], k: np.ndarray, color: tuple[int, int, int]) -> None:
    polys = [q for q in (_project(p, k) for p in polys_cam) if q is not None]
    if polys:
        cv2.fillPoly(img, polys, color, lineType=cv2.LINE_AA, shift=4)


def _road(img: np.ndarray, ego: Ego, s_ego: float, cam_from_global: Transform, k: np.ndarray) -> None:
    s = np.arange(s_ego - 30.0, s_ego + 120.0, 4.0)
    for d_lo, d_hi, color, dashed in ((-7.0, 7.0, ASPHALT, False), (-0.1, 0.1, (230, 200, 40), False),
                                      (-3.6, -3.4, MARKING, True), (3.4, 3.6, MARKING, True),
                                      (-6.9, -6.7, MARKING, False), (6.7, 6.9, MARKING, False)):  # fmt: skip
        lo, _ = ego.road.at(s, np.full(len(s), d_lo))
        hi, _ = ego.road.at(s, np.full(len(s), d_hi))
        lo_c = cam_from_global.apply(np.concatenate([lo, np.zeros((len(s), 1))], axis=1))
        hi_c = cam_from_global.apply(np.concatenate([hi, np.zeros((len(s), 1))], axis=1))
        if dashed:
            i = np.arange(0, len(s) - 1, 2)
            _fill_quads(img, np.stack([lo_c[i], lo_c[i + 1], hi_c[i + 1], hi_c[i]], axis=1), k, color)
        else:  # one strip polygon: left edge forward, right edge back
            _fill(img, [np.concatenate([lo_c, hi_c[::-1]])], k, color)


def _fill_quads(img: np.ndarray, quads: np.ndarray, k: np.ndarray, color: tuple[int, int, int]) -> None:
    """Fill quads (Q, 4, 3) in the camera frame; only those crossing the near plane are clipped one by one."""
    z = quads[..., 2]
    front = z.min(axis=1) >= NEAR
    uv = (quads[front] @ k.T)[..., :2] / z[front][..., None]
    polys = list(np.round(np.clip(uv, -1e5, 1e5) * 16).astype(np.int32).reshape(-1, 4, 1, 2))
    polys += [q for q in (_project(p, k) for p in quads[~front & (z.max(axis=1) >= NEAR)]) if q is not None]
    if polys:
        cv2.fillPoly(img, polys, color, lineType=cv2.LINE_AA, shift=4)


def _base(width: int, height: int, cam_from_global: Transform, k: np.ndarray) -> np.ndarray:
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = SKY
    cam_pos = cam_from_global.inverse().translation
    ground = np.array([[-400, -400, 0], [400, -400, 0], [400, 400, 0], [-400, 400, 0]], dtype=np.float64)
    ground[:, :2] += cam_pos[:2]
    _fill(img, [cam_from_global.apply(ground)], k, GROUND)
    return img


def render(
    ego: Ego,
    t: float,
    boxes: np.ndarray,
    colors: list[tuple[int, int, int]],
    cam_from_global: Transform,
    k: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """Render an RGB image (H, W, 3) uint8 of the world at time ``t`` (actors ``boxes`` (M, >=7) global)."""
    img = _base(width, height, cam_from_global, k)
    _road(img, ego, float(ego.s_at(t)), cam_from_global, k)
    if len(boxes):
        _actors(img, boxes, colors, cam_from_global, k, width, height)
    return img


def _actors(
    img: np.ndarray, boxes: np.ndarray, colors: list[tuple[int, int, int]], cam_from_global: Transform,
    k: np.ndarray, width: int, height: int,
) -> None:  # fmt: skip
    """Paint the camera-facing faces of every box, far to near (faces of one convex box never overlap)."""
    corners = box_corners(boxes[:, :7])  # (M, 8, 3) global
    cam_corners = cam_from_global.apply(corners.reshape(-1, 3)).reshape(-1, 8, 3)
    idx = np.flatnonzero(_in_view(cam_corners, k, width, height))
    if len(idx) == 0:
        return
    c, s = np.cos(boxes[idx, 6]), np.sin(boxes[idx, 6])
    zero, one = np.zeros_like(c), np.ones_like(c)
    rot = np.stack(
        [np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], 1
    )
    normals = np.einsum("mij,fj->mfi", rot, NORMALS)  # (m, 6, 3) global
    face_pts = cam_corners[idx][:, FACE_INDEX]  # (m, 6, 4, 3) camera frame
    centres = corners[idx][:, FACE_INDEX].mean(axis=2)  # (m, 6, 3) global
    cam_pos = cam_from_global.inverse().translation
    facing = np.einsum("mfi,mfi->mf", normals, cam_pos - centres) > 0
    shade = 0.55 + 0.45 * np.maximum(0.0, normals @ LIGHT)  # (m, 6)
    z = face_pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (face_pts @ k.T)[..., :2] / z[..., None]
    pix = np.round(np.clip(np.nan_to_num(uv), -1e5, 1e5) * 16).astype(np.int32)
    all_front = z.min(axis=2) >= NEAR
    dist = np.linalg.norm(cam_corners[idx].mean(axis=1), axis=1)
    for m in np.argsort(-dist, kind="stable"):
        base = colors[idx[m]]
        for f in np.flatnonzero(facing[m]):
            poly = pix[m, f].reshape(-1, 1, 2) if all_front[m, f] else _project(face_pts[m, f], k)
            if poly is not None:
                col = (int(base[0] * shade[m, f]), int(base[1] * shade[m, f]), int(base[2] * shade[m, f]))
                cv2.fillPoly(img, [poly], col, lineType=cv2.LINE_AA, shift=4)


def _in_view(cam_corners: np.ndarray, k: np.ndarray, width: int, height: int) -> np.ndarray:
    """Conservative mask (M,): some part of the box may be inside the image and within 120 m."""
    z = cam_corners[..., 2]
    front = z >= NEAR
    with np.errstate(divide="ignore", invalid="ignore"):
        u = k[0, 0] * cam_corners[..., 0] / z + k[0, 2]
        v = k[1, 1] * cam_corners[..., 1] / z + k[1, 2]
    all_front = front.all(axis=1)
    outside = all_front & ((u.max(1) < 0) | (u.min(1) >= width) | (v.max(1) < 0) | (v.min(1) >= height))
    return front.any(axis=1) & ~outside & (z.min(axis=1) < 120.0)


def encode_jpeg(img_rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a JPEG")
    return buf.tobytes()
