"""File readers and writers for the nuScenes sensor formats (LiDAR .pcd.bin, radar PCD v0.7)."""
