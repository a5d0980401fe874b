"""Published corruption suites, computed on the fly: every corruption is a small pure function
``(sample, severity, rng) -> sample`` that copies what it changes and never mutates its input.

Families, one module each:

* :mod:`~sensorfuse.corrupt.failures` — sensor failures of MetaBEV (Ge et al., ICCV 2023);
* :mod:`~sensorfuse.corrupt.lidar` — LiDAR corruptions of Robo3D (Kong et al., ICCV 2023);
* :mod:`~sensorfuse.corrupt.camera` — camera corruptions of RoboBEV / nuScenes-C (Xie et al., 2023);
* :mod:`~sensorfuse.corrupt.misalign` — spatial and temporal misalignment (Dong et al., CVPR 2023);
* :mod:`~sensorfuse.corrupt.radar` — radar: dropped returns, velocity noise, ghost targets.

:mod:`~sensorfuse.corrupt.catalog` is the plain ``name → corruption`` dict (no import-time registration) and
:func:`~sensorfuse.corrupt.catalog.apply` the one entry point; :mod:`~sensorfuse.corrupt.report` turns
evaluated rows into mRR / mCE tables and a heat map. ``docs/robustness.md`` lists every corruption with its
reference and parameters per severity.
"""
