"""sensorfuse: camera + LiDAR + radar fusion in a shared bird's-eye-view grid.

Subpackages (each importable on its own; nothing registers itself on import):
  geometry    rigid transforms named ``target_from_source`` and quaternions
  boxes       the one 3D box convention, points-in-box, corners
  structures  typed data passed between parts (point clouds, radar, cameras, boxes, BEV grid)
  synth       synthetic nuScenes-format world generator
  data, sync, calib   dataset index and samples, time synchronisation, calibration
  ops         voxelize and bev_pool kernels (Numba CPU, CUDA, torch reference)
  models      encoders, fusers, head, FusionDetector
  engine      training and official evaluation
  replay      recorded-drive replay and visualisation
  bench       benchmarks (ops, loading, latency, detection)
"""

__version__ = "0.1.0"
