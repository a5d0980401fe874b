"""Rigid transforms and quaternions against pyquaternion (the devkit's quaternion library)."""

from __future__ import annotations

import numpy as np
import pytest
from pyquaternion import Quaternion

from sensorfuse.errors import ConfigError
from sensorfuse.geometry import (
    Transform,
    check_rotation,
    matrix_to_quat,
    quat_to_matrix,
    quat_yaw,
    wrap_angle,
)


def _random_quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quat_to_matrix_matches_pyquaternion() -> None:
    for q in _random_quats(50):
        np.testing.assert_allclose(quat_to_matrix(q), Quaternion(q).rotation_matrix, atol=1e-12)


def test_matrix_quat_round_trip_sign_canonical() -> None:
    for q in _random_quats(50, seed=1):
        back = matrix_to_quat(quat_to_matrix(q))
        assert back[0] >= 0
        np.testing.assert_allclose(back, q if q[0] >= 0 else -q, atol=1e-9)


def test_transform_compose_right_to_left_and_inverse() -> None:
    rng = np.random.default_rng(2)
    qa, qb = _random_quats(2, seed=3)
    b_from_a = Transform.from_quat(qa, rng.normal(size=3))
    c_from_b = Transform.from_quat(qb, rng.normal(size=3))
    p = rng.normal(size=(20, 3))
    np.testing.assert_allclose((c_from_b @ b_from_a).apply(p), c_from_b.apply(b_from_a.apply(p)), atol=1e-12)
    np.testing.assert_allclose(b_from_a.inverse().apply(b_from_a.apply(p)), p, atol=1e-12)
    # rotate() ignores the translation
    np.testing.assert_allclose(b_from_a.rotate(p), p @ b_from_a.rotation.T, atol=1e-12)


def test_quat_yaw_and_wrap() -> None:
    for yaw in np.linspace(-3.1, 3.1, 13):
        assert quat_yaw([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]) == pytest.approx(yaw, abs=1e-12)
    assert float(wrap_angle(3 * np.pi)) == pytest.approx(-np.pi)


def test_check_rotation_rejects_non_orthonormal_and_reflection() -> None:
    check_rotation(quat_to_matrix(_random_quats(1)[0]), "ok")
    with pytest.raises(ConfigError, match="not orthonormal"):
        check_rotation(np.diag([1.0, 1.1, 1.0]), "rig.yaml:LIDAR_TOP")
    with pytest.raises(ConfigError, match="determinant"):
        check_rotation(np.diag([1.0, 1.0, -1.0]), "rig.yaml:LIDAR_TOP")
    with pytest.raises(ValueError, match="zero or non-finite"):
        quat_to_matrix([0, 0, 0, 0])
