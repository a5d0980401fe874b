"""Training and evaluation: typed config, training loop (CPU/GPU, AMP, DDP), checkpoints, official nuScenes eval."""
