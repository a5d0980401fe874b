"""Populate a scene: parked, moving, escorting and crossing actors of every requested class.

Static objects are placed along both road sides densely enough that, at every keyframe, each class
has instances inside its evaluation range (30-50 m); moving vehicles share lanes at one speed per lane
so they never drive through each other.
"""

from __future__ import annotations

import numpy as np

from sensorfuse.synth.world import CROSS, ESCORT, LANE, SIZES, STATIC, Actors, Ego

CLASS_CATEGORY: dict[str, str] = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "bus": "vehicle.bus.rigid",
    "trailer": "vehicle.trailer",
    "construction_vehicle": "vehicle.construction",
    "pedestrian": "human.pedestrian.adult",
    "motorcycle": "vehicle.motorcycle",
    "bicycle": "vehicle.bicycle",
    "traffic_cone": "movable_object.trafficcone",
    "barrier": "movable_object.barrier",
}
EXTRA_CATEGORIES = ("animal", "movable_object.pushable_pullable", "static_object.bicycle_rack")


class _Builder:
    def __init__(self, rng: np.random.Generator, classes: tuple[str, ...]) -> None:
        self.rng = rng
        self.classes = set(classes)
        self.rows: list[tuple[str, np.ndarray, int, float, float, float, str]] = []

    def add(
        self, cls_or_cat: str, kind: int, s0: float, d0: float, speed: float = 0.0, attr: str = ""
    ) -> float:
        """Add one actor; returns its length (0 when its class is not requested)."""
        cat = CLASS_CATEGORY.get(cls_or_cat, cls_or_cat)
        if cls_or_cat in CLASS_CATEGORY and cls_or_cat not in self.classes:
            return 0.0
        size = np.array(SIZES[cat]) * self.rng.uniform(0.92, 1.08, 3)
        self.rows.append((cat, size, kind, s0, d0, speed, attr))
        return float(size[0])

    def build(self) -> Actors:
        r = self.rows
        return Actors(
            category=[x[0] for x in r],
            size=np.array([x[1] for x in r]).reshape(-1, 3),
            kind=np.array([x[2] for x in r], dtype=np.int64),
            s0=np.array([x[3] for x in r], dtype=np.float64),
            d0=np.array([x[4] for x in r], dtype=np.float64),
            speed=np.array([x[5] for x in r], dtype=np.float64),
            attribute=[x[6] for x in r],
        )


def _roadside(b: _Builder, s_lo: float, s_hi: float) -> None:
    rng = b.rng
    for side in (-1.0, 1.0):
        s = s_lo + rng.uniform(0, 6)  # parking band
        cycle = [
            "car",
            "car",
            "truck",
            "car",
            "construction_vehicle",
            "car",
            "trailer",
            "motorcycle",
            "bicycle",
        ]
        i = int(rng.integers(len(cycle)))
        while s < s_hi:
            cls = cycle[i % len(cycle)]
            i += 1
            attr = "cycle.without_rider" if cls in ("motorcycle", "bicycle") else "vehicle.parked"
            length = b.add(cls, STATIC, s, side * rng.uniform(9.2, 9.8), attr=attr) or 4.0
            s += length + rng.uniform(2.0, 9.0)
        s = s_lo + rng.uniform(0, 10)  # road edge: cones and barriers
        while s < s_hi:
            if rng.random() < 0.5:
                for k in range(int(rng.integers(2, 5))):
                    b.add("traffic_cone", STATIC, s + 1.5 * k, side * 7.4)
                s += 6.0
            else:
                for k in range(int(rng.integers(1, 4))):
                    b.add("barrier", STATIC, s + 2.8 * k, side * 7.6)
                s += 9.0
            s += rng.uniform(6, 14)
        s = s_lo + rng.uniform(0, 5)  # sidewalk: walking and standing pedestrians, extras
        while s < s_hi:
            moving = rng.random() < 0.6
            speed = rng.uniform(1.0, 1.6) * rng.choice([-1.0, 1.0]) if moving else 0.0
            if moving:
                b.add("pedestrian", LANE, s, side * rng.uniform(14.0, 15.0), speed)
            else:
                attr = "pedestrian.sitting_lying_down" if rng.random() < 0.15 else "pedestrian.standing"
                b.add("pedestrian", STATIC, s, side * rng.uniform(14.0, 15.0), attr=attr)
            if rng.random() < 0.12:
                cat = EXTRA_CATEGORIES[int(rng.integers(len(EXTRA_CATEGORIES)))]
                b.add(cat, STATIC, s + 2.0, side * 17.0)
            s += rng.uniform(6, 14)
        s = s_lo + rng.uniform(0, 20)  # bike path
        while s < s_hi:
            b.add("bicycle", LANE, s, side * 12.0, side * -rng.uniform(3.0, 5.0), attr="cycle.with_rider")
            s += rng.uniform(20, 35)


def _traffic(b: _Builder, ego: Ego, seconds: float) -> None:
    rng = b.rng
    s_ego0, s_ego1 = float(ego.s_at(0.0)), float(ego.s_at(seconds))
    b.add("car", ESCORT, rng.uniform(14, 22), -1.75)  # lead vehicle in the ego lane
    b.add("bus", ESCORT, rng.uniform(-22, -14), -5.25)
    b.add("motorcycle", ESCORT, rng.uniform(-3, 6), -5.25, attr="cycle.with_rider")
    b.add("truck", ESCORT, rng.uniform(14, 24), -5.25)
    b.add("car", ESCORT, rng.uniform(-30, -26), -1.75)
    for lane in (1.75, 5.25):  # oncoming traffic passes the ego
        speed = -rng.uniform(7.0, 11.0)
        s = s_ego0 + 10.0
        s_end = s_ego1 + (-speed) * seconds + 60.0
        mix = ["car", "car", "truck", "car", "bus", "motorcycle", "car", "construction_vehicle"]
        while s < s_end:
            cls = mix[int(rng.integers(len(mix)))]
            attr = "cycle.with_rider" if cls == "motorcycle" else ""
            s += b.add(cls, LANE, s, lane, speed, attr=attr) + rng.uniform(10.0, 25.0)


def _crossing(b: _Builder, ego: Ego, seconds: float) -> None:
    rng = b.rng
    for k in range(3):
        s = float(ego.s_at(seconds * (k + 0.5) / 3)) + rng.uniform(10, 25)
        sign = rng.choice([-1.0, 1.0])
        b.add("pedestrian", CROSS, s, -sign * rng.uniform(8.0, 12.0), sign * rng.uniform(1.1, 1.6))


def populate(rng: np.random.Generator, ego: Ego, seconds: float, classes: tuple[str, ...]) -> Actors:
    """All actors of one scene (seconds from the scene start; ``classes`` = detection classes to include)."""
    b = _Builder(rng, classes)
    _traffic(b, ego, seconds)
    _crossing(b, ego, seconds)
    _roadside(b, float(ego.s_at(0.0)) - 45.0, float(ego.s_at(seconds)) + 55.0)
    return b.build()
