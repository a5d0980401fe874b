"""Replay of recorded drives: message stream, causal frame assembly, detections JSONL, Rerun and MP4 outputs.

Entry points: :func:`sensorfuse.replay.pipeline.run_replay` and the ``sensorfuse replay`` command
(:mod:`sensorfuse.replay.cli`). See ``docs/replay.md``.
"""
