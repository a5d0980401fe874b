"""Radar simulation: returns only from actors in line of sight, on their visible surface."""

import numpy as np

from sensorfuse.geometry import Transform
from sensorfuse.io.radar_pcd import RADAR_FIELDS
from sensorfuse.synth.radar import simulate_radar

X, Y, VX = RADAR_FIELDS.index("x"), RADAR_FIELDS.index("y"), RADAR_FIELDS.index("vx_comp")


def _near(points: np.ndarray, xy: tuple[float, float], radius: float) -> np.ndarray:
    return np.hypot(points[:, X] - xy[0], points[:, Y] - xy[1]) < radius


def test_occluded_actor_returns_nothing_and_visible_ones_return_on_their_near_side() -> None:
    # three cars (x, y, z, l, w, h, yaw, vx, vy) seen from a radar at (0, 0, 0.5) looking along +x:
    # A at 12 m, B straight behind A at 25 m (hidden), C at 25 m off to the side (in sight)
    boxes = np.array(
        [
            [12.0, 0.0, 0.8, 4.5, 2.0, 1.6, 0.0, 5.0, 0.0],
            [25.0, 0.0, 0.8, 4.5, 1.8, 1.5, 0.0, 5.0, 0.0],
            [25.0, 12.0, 0.8, 4.5, 2.0, 1.6, 0.0, 5.0, 0.0],
        ]
    )
    cats = ["vehicle.car"] * 3
    radar = Transform.from_rt(np.eye(3), [0.0, 0.0, 0.5])
    pts = np.concatenate(
        [simulate_radar(boxes, cats, radar, np.zeros(3), np.random.default_rng(s)) for s in range(40)]
    )
    moving = np.abs(pts[:, VX]) > 2.0  # clutter is static: it may land anywhere, but never moves
    on_a, on_b, on_c = (_near(pts, (b[0], b[1]), 3.5) & moving for b in boxes)
    assert on_a.sum() > 40 and on_c.sum() > 40
    assert on_b.sum() == 0
    # A's returns sit on its rear face (x ~ 12 - 2.25), not spread through the box
    assert np.median(pts[on_a, X]) < 12.0 - 1.5
    # compensated radial velocity of a car driving away at 5 m/s along the line of sight
    assert abs(np.median(pts[on_a, VX]) - 5.0) < 0.5
