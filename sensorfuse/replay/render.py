"""Headless rendering for replay: a BEV raster and a 6-camera mosaic with projected boxes (OpenCV, BGR).

BEV image convention: seen from above, the reference frame's +x points **right** in the image and +y **up**
(for the nuScenes LIDAR_TOP frame, x right and y forward, the car drives up the image); the ego is at the
centre and ``range_m`` metres separate the centre from each border.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sensorfuse.boxes import box_corners
from sensorfuse.classes import CAMERAS, DETECTION_CLASSES
from sensorfuse.geometry import scale_intrinsics
from sensorfuse.structures import Boxes3D, CameraSet

#: BGR colour per class index (tab10-like), used for predictions; ground truth is drawn in white.
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
    (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23),
)  # fmt: skip
GT_COLOR = (255, 255, 255)
#: The 12 box edges as corner index pairs (corner order of :func:`sensorfuse.boxes.box_corners`).
BOX_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7),
)  # fmt: skip


def class_color(label: int) -> tuple[int, int, int]:
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


def bev_pixels(xy: np.ndarray, size: int, range_m: float) -> np.ndarray:
    """Reference-frame (N, 2) x, y in metres → BEV pixel (N, 2) (col, row) float; +x right, +y up."""
    s = size / (2.0 * range_m)
    col = size / 2.0 + xy[:, 0] * s
    row = size / 2.0 - xy[:, 1] * s
    return np.stack([col, row], axis=1)


def bev_image(
    lidar: np.ndarray | None,
    radar: np.ndarray | None,
    pred: Boxes3D | None,
    gt: Boxes3D | None,
    size: int = 360,
    range_m: float = 54.0,
) -> np.ndarray:
    """(size, size, 3) uint8 BGR: LiDAR points (grey by height), radar (red, with velocity ticks), boxes.

    Args:
        lidar: (N, >=3) reference-frame points or None. radar: (N, 7) radar rows or None.
        pred / gt: boxes in the reference frame (predictions coloured per class, ground truth white).
    """
    img = np.zeros((size, size, 3), np.uint8)
    for r in range(10, int(range_m) + 1, 10):  # range rings every 10 m
        cv2.circle(img, (size // 2, size // 2), int(r * size / (2 * range_m)), (40, 40, 40), 1)
    if lidar is not None and len(lidar):
        px = bev_pixels(lidar[:, :2], size, range_m).astype(np.int32)
        ok = (px[:, 0] >= 0) & (px[:, 0] < size) & (px[:, 1] >= 0) & (px[:, 1] < size)
        z = np.clip((lidar[ok, 2] + 2.0) / 4.0, 0.0, 1.0)
        img[px[ok, 1], px[ok, 0]] = (60 + 120 * z)[:, None].astype(np.uint8)
    if radar is not None and len(radar):
        p0 = bev_pixels(radar[:, :2], size, range_m)
        p1 = bev_pixels(radar[:, :2] + radar[:, 3:5], size, range_m)  # 1 s of velocity
        for a, b in zip(p0.astype(int), p1.astype(int)):
            cv2.circle(img, (int(a[0]), int(a[1])), 2, (0, 0, 255), -1)
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (0, 0, 255), 1)
    for boxes, gt_style in ((gt, True), (pred, False)):
        if boxes is None or not len(boxes):
            continue
        corners = box_corners(boxes.boxes[:, :7])[:, :4, :2]  # top face
        for i, c in enumerate(corners):
            poly = bev_pixels(c, size, range_m).astype(np.int32)
            color = GT_COLOR if gt_style else class_color(int(boxes.labels[i]))
            cv2.polylines(img, [poly], True, color, 1 if gt_style else 2)
            cv2.line(img, tuple(poly[0]), tuple(poly[1]), color, 2)  # front edge
    cv2.drawMarker(img, (size // 2, size // 2), (0, 255, 0), cv2.MARKER_TRIANGLE_UP, 8, 2)
    return img


def project_box_edges(boxes: np.ndarray, intrinsics: np.ndarray, cam_from_ref: np.ndarray) -> np.ndarray:
    """Box edges in pixels: (M, 12, 2, 2) float, NaN for an edge with an end behind the camera (depth < 0.5 m)."""
    if len(boxes) == 0:
        return np.zeros((0, len(BOX_EDGES), 2, 2))
    corners = box_corners(boxes[:, :7]).reshape(-1, 3)  # (M*8, 3) reference frame
    cam = corners @ cam_from_ref[:3, :3].T + cam_from_ref[:3, 3]
    depth = cam[:, 2]
    uvw = cam @ np.asarray(intrinsics, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    uv[depth < 0.5] = np.nan
    uv = uv.reshape(len(boxes), 8, 2)
    idx = np.asarray(BOX_EDGES)
    return np.stack([uv[:, idx[:, 0]], uv[:, idx[:, 1]]], axis=2)


def draw_boxes_on_image(
    image_bgr: np.ndarray, boxes: Boxes3D, intrinsics: np.ndarray, cam_from_ref: np.ndarray, gt: bool = False
) -> None:
    """Draw projected box edges into ``image_bgr`` in place."""
    edges = project_box_edges(boxes.boxes, intrinsics, cam_from_ref)
    h, w = image_bgr.shape[:2]
    for i, box_edges in enumerate(edges):
        color = GT_COLOR if gt else class_color(int(boxes.labels[i]))
        for (u0, v0), (u1, v1) in box_edges:
            if not np.all(np.isfinite([u0, v0, u1, v1])):
                continue
            if max(abs(u0), abs(u1)) > 8 * w or max(abs(v0), abs(v1)) > 8 * h:
                continue
            cv2.line(image_bgr, (int(u0), int(v0)), (int(u1), int(v1)), color, 1, cv2.LINE_AA)


def camera_tiles(
    cameras: CameraSet | None,
    pred: Boxes3D | None,
    gt: Boxes3D | None,
    tile_wh: tuple[int, int] = (320, 180),
    order: Sequence[str] = CAMERAS,
) -> list[np.ndarray]:
    """One BGR tile per camera of ``order`` (boxes projected; a grey tile saying MISSING when absent)."""
    tw, th = tile_wh
    tiles = []
    for ch in order:
        tile: np.ndarray = np.full((th, tw, 3), 48, np.uint8)
        i = cameras.channels.index(ch) if cameras is not None and ch in cameras.channels else -1
        if cameras is not None and i >= 0 and bool(cameras.present[i]):
            img = cv2.cvtColor(np.ascontiguousarray(cameras.images[i]), cv2.COLOR_RGB2BGR)
            h, w = img.shape[:2]
            k = scale_intrinsics(cameras.intrinsics[i], tw / w, th / h)
            tile = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
            for boxes, is_gt in ((gt, True), (pred, False)):
                if boxes is not None and len(boxes):
                    draw_boxes_on_image(
                        tile, boxes, k, np.asarray(cameras.cam_from_ref[i], np.float64), is_gt
                    )
        else:
            cv2.putText(
                tile, "MISSING", (tw // 2 - 50, th // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2
            )
        cv2.putText(tile, ch, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return tiles


def mosaic_frame(
    bev: np.ndarray, tiles: Sequence[np.ndarray], lines: Sequence[str] = (), cols: int = 3
) -> np.ndarray:
    """BEV on the left, camera tiles in a ``cols``-wide grid on the right, status ``lines`` over the BEV."""
    rows = [np.concatenate(list(tiles[r : r + cols]), axis=1) for r in range(0, len(tiles), cols)]
    grid = np.concatenate(rows, axis=0) if rows else np.zeros((bev.shape[0], 0, 3), np.uint8)
    h = max(bev.shape[0], grid.shape[0])
    canvas = np.zeros(
        (h + h % 2, bev.shape[1] + grid.shape[1] + (bev.shape[1] + grid.shape[1]) % 2, 3), np.uint8
    )
    canvas[: bev.shape[0], : bev.shape[1]] = bev
    canvas[: grid.shape[0], bev.shape[1] : bev.shape[1] + grid.shape[1]] = grid
    for j, text in enumerate(lines):
        cv2.putText(
            canvas, text, (6, 16 + 16 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 255, 255), 1, cv2.LINE_AA
        )
    return canvas


def legend_line() -> str:
    return "pred: colour per class | GT: white | " + ", ".join(DETECTION_CLASSES[:3]) + "..."
