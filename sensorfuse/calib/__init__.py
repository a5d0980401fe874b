"""Calibration: rig files, camera model, checks. Import submodules directly (rig, camera, check)."""
