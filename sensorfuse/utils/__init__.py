"""Small shared utilities (atomic writes, progress)."""
