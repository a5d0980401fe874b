"""Overlay images for a person to look at: LiDAR coloured by depth, radar points, GT boxes, per camera."""

from __future__ import annotations

import cv2
import numpy as np

from sensorfuse.boxes import box_corners
from sensorfuse.calib.camera import in_image, project

# Box edges over the corner order of sensorfuse.boxes.box_corners (top 0..3, bottom 4..7).
_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def _to_cam(points_ref: np.ndarray, cam_from_ref: np.ndarray) -> np.ndarray:
    m = np.asarray(cam_from_ref, dtype=np.float64)
    return np.asarray(points_ref, dtype=np.float64)[:, :3] @ m[:3, :3].T + m[:3, 3]


def draw_overlay(
    image_rgb: np.ndarray,
    intrinsics: np.ndarray,
    cam_from_ref: np.ndarray,
    lidar: np.ndarray | None,
    radar: np.ndarray | None,
    boxes: np.ndarray | None,
    max_depth: float = 60.0,
) -> np.ndarray:
    """BGR uint8 image with LiDAR points (jet colour = depth, 0..max_depth m), radar points (white rings,
    velocity ticks) and GT box wireframes (green) projected; all inputs in the reference frame."""
    img = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    if lidar is not None and len(lidar):
        uv, depth = project(_to_cam(lidar, cam_from_ref), intrinsics)
        m = in_image(uv, depth, w, h, min_depth=0.5)
        order = np.argsort(-depth[m])  # far first, near drawn on top
        uvm, dm = uv[m][order].astype(np.int32), depth[m][order]
        colours = cv2.applyColorMap(
            (np.clip(dm / max_depth, 0, 1) * 255).astype(np.uint8)[:, None], cv2.COLORMAP_JET
        )[:, 0]
        for (u, v), c in zip(uvm, colours):
            cv2.circle(img, (int(u), int(v)), 1, tuple(int(x) for x in c), -1)
    if radar is not None and len(radar):
        uv, depth = project(_to_cam(radar, cam_from_ref), intrinsics)
        tip = radar[:, :3].astype(np.float64).copy()
        tip[:, :2] += radar[:, 3:5] * 0.5  # 0.5 s of motion
        uv2, d2 = project(_to_cam(tip, cam_from_ref), intrinsics)
        m = in_image(uv, depth, w, h, min_depth=0.5) & (d2 > 0.5)
        for (u, v), (u2, v2) in zip(uv[m].astype(np.int32), uv2[m].astype(np.int32)):
            cv2.circle(img, (int(u), int(v)), 5, (255, 255, 255), 2)
            cv2.line(img, (int(u), int(v)), (int(u2), int(v2)), (0, 0, 255), 2)
    if boxes is not None and len(boxes):
        _draw_boxes(img, intrinsics, cam_from_ref, boxes)
    return img


def _draw_boxes(img: np.ndarray, intrinsics: np.ndarray, cam_from_ref: np.ndarray, boxes: np.ndarray) -> None:
    h, w = img.shape[:2]
    corners = box_corners(np.asarray(boxes, dtype=np.float64))
    for c in corners:
        uv, depth = project(_to_cam(c, cam_from_ref), intrinsics)
        if (depth < 0.5).any() or not in_image(uv, depth, w, h).any():
            continue
        for a, b in _EDGES:
            pa, pb = uv[a], uv[b]
            cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), (0, 255, 0), 2)
