"""Time synchronisation: pick each sensor's message for a reference time (see :mod:`sensorfuse.sync.core`)."""

from sensorfuse.sync.core import CausalSyncBuffer, Message, SyncPolicy, SyncResult, synchronize

__all__ = ["CausalSyncBuffer", "Message", "SyncPolicy", "SyncResult", "synchronize"]
