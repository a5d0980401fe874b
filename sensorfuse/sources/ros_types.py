"""ROS message type stores (``rosbags``): the file's own definitions first, a built-in fallback second.

A recording decodes each topic with the message definition stored in the file (MCAP schemas, rosbag2
``message_definitions``, ROS 1 connection headers). Older rosbag2 ``.db3`` files (ROS 2 Humble and earlier)
store none; for those the fallback is the ROS 2 Humble standard set plus ``radar_msgs`` (which rosbags does
not ship), see :func:`fallback_typestore`. Types in neither are *unknown*: their messages are skipped and
counted by the reader, never decoded by guess.

Type names are normalised to the ROS 2 spelling ``pkg/msg/Name`` (ROS 1 ``pkg/Name`` included).
"""

from __future__ import annotations

import functools
from typing import Any

from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

#: ``radar_msgs`` (ros-perception/radar_msgs, ROS 2) — not in rosbags' stores. Azimuth is anticlockwise
#: from x (REP 103), elevation negative below the sensor, doppler_velocity in m/s, amplitude in dB.
RADAR_MSGS: dict[str, str] = {
    "radar_msgs/msg/RadarReturn": (
        "float32 range\nfloat32 azimuth\nfloat32 elevation\nfloat32 doppler_velocity\nfloat32 amplitude\n"
    ),
    "radar_msgs/msg/RadarScan": "std_msgs/Header header\nradar_msgs/RadarReturn[] returns\n",
}

#: rosbag2 separator between the concatenated IDL definitions of a type and its dependencies.
_IDL_SEP = "=" * 80 + "\n"


def normalize_type(name: str) -> str:
    """``sensor_msgs/PointCloud2`` → ``sensor_msgs/msg/PointCloud2`` (names with ``/msg/`` are kept)."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


@functools.lru_cache(maxsize=1)
def fallback_typestore() -> Typestore:
    """ROS 2 Humble's standard messages + ``radar_msgs`` (shared, read-only by convention)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    for name, text in RADAR_MSGS.items():
        store.register(get_types_from_msg(text, name))
    return store


def writer_typestore() -> Typestore:
    """The store the writers serialise with (same types as :func:`fallback_typestore`)."""
    return fallback_typestore()


def parse_definition(msgtype: str, encoding: str, text: str) -> dict[str, Any]:
    """Parse a stored definition (``ros2msg``/ROS 1 ``msg`` text, or ``ros2idl``) into rosbags' type dict.

    Raises:
        ValueError: the text does not parse or does not define ``msgtype`` (an unknown type).
    """
    try:
        if encoding in ("ros2idl", "idl", "omgidl"):
            typs: dict[str, Any] = {}
            if text.startswith(_IDL_SEP + "IDL: "):
                for part in text.split(_IDL_SEP)[1:]:
                    typs.update(get_types_from_idl(part.split("\n", 1)[1]))
            else:
                typs.update(get_types_from_idl(text))
        else:
            typs = dict(get_types_from_msg(text, msgtype))
    except Exception as e:  # rosbags raises its own parser errors, and IndexError/KeyError on odd input
        raise ValueError(f"its {encoding} definition does not parse: {e}") from None
    if normalize_type(msgtype) not in typs:
        raise ValueError(f"its {encoding} definition does not define {msgtype}")
    return typs


def register_definition(store: Typestore, msgtype: str, encoding: str, text: str) -> None:
    """Register ``msgtype`` from its stored definition in ``store``.

    Raises:
        ValueError: the definition does not parse, or conflicts with one already registered from the
            same file (two versions of a type in one recording).
    """
    typs = parse_definition(msgtype, encoding, text)
    try:
        store.register(typs)
    except Exception as e:
        raise ValueError(f"its definition conflicts with another in the file: {e}") from None


def empty_typestore() -> Typestore:
    """A fresh store with no types (each recording registers its own definitions into one)."""
    return get_typestore(Stores.EMPTY)
