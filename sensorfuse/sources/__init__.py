"""Recorded drives: ROS 2 bags and MCAP in (and out), below the data layer.

Modules:

* :mod:`~sensorfuse.sources.bagfile` — :func:`open_bag`: one reader for MCAP (ROS 2 CDR or Foxglove protobuf),
  rosbag2 (``.db3`` / folder) and ROS 1 ``.bag``; ``info()`` and a lazy, time-ordered message iterator;
* message → numpy decoders: :mod:`~sensorfuse.sources.ros_msgs` (PointCloud2 LiDAR, TF, odometry),
  :mod:`~sensorfuse.sources.ros_images` (Image, CompressedImage, CameraInfo),
  :mod:`~sensorfuse.sources.ros_radar` (radar PointCloud2, RadarScan), :mod:`~sensorfuse.sources.points`
  (the vectorised packed-point layout, per-point time rule), :mod:`~sensorfuse.sources.foxglove_msgs`
  (the Foxglove protobuf equivalents and builders);
* :mod:`~sensorfuse.sources.deskew` — moving a rotating sweep to one time by ego motion;
* :mod:`~sensorfuse.sources.tf_buffer` — static + interpolated dynamic transforms, chain lookup;
* :mod:`~sensorfuse.sources.bag_writer`, :mod:`~sensorfuse.sources.ros_build`,
  :mod:`~sensorfuse.sources.markers` — writing ROS 2 / Foxglove recordings (boxes as MarkerArray);
* :mod:`~sensorfuse.sources.bag_drive` — :class:`BagDrive` / :func:`open_drive`: a recording as a
  :class:`~sensorfuse.sources.base.Drive`, through a rig (:mod:`~sensorfuse.sources.drive_rig`: which topic
  is which sensor; ``sensorfuse drive info``, :mod:`~sensorfuse.sources.drive_info`);
* :mod:`~sensorfuse.sources.export_mcap` — any Drive (a nuScenes scene) → MCAP / rosbag2 / Foxglove MCAP
  (``sensorfuse export mcap``, :mod:`~sensorfuse.sources.cli`).

Nothing here imports from :mod:`sensorfuse.data` or above.
"""
