"""Benchmarks: ops (voxelize, bev_pool), loading, per-stage latency, detection."""
