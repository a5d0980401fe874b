"""Build frozen dataclasses from plain dicts (YAML) with type checks, and turn them back into dicts.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``X | None``, ``Literal[...]``,
``tuple[X, ...]``, ``tuple[X, Y, ...]`` (fixed length), ``list[X]``, ``dict[str, X]`` and nested dataclasses.
Every error is a :class:`~sensorfuse.errors.ConfigError` that names the dotted key, the expected type and,
for unknown keys, the keys that are allowed.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, TypeVar

from sensorfuse.errors import ConfigError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce_scalar(value: Any, tp: type, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-3" as a string
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{where}: unsupported config field type {_type_name(tp)}")
    raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type annotation ``tp`` and convert it (e.g. list → tuple, int → float)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list ({_type_name(tp)}), got {value!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(
                    f"{where}: expected {len(args)} values ({_type_name(tp)}), got {len(value)}"
                )
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
        return tuple(items) if origin is tuple else items
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping ({_type_name(tp)}), got {value!r}")
        vt = args[1] if args else Any
        return {str(k): (v if vt is Any else coerce(v, vt, f"{where}.{k}")) for k, v in value.items()}
    if tp is Any:
        return value
    return _coerce_scalar(value, tp, where)


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping; missing keys take the field defaults.

    Raises:
        ConfigError: unknown keys (listing the allowed ones), wrong types, or a missing required field.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = coerce(value, hints[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from e
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain YAML/JSON-friendly data: tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def field_type(cls: type, dotted: str) -> Any:
    """The annotated type of the dotted key ``a.b.c`` inside dataclass ``cls`` (ConfigError if unknown)."""
    tp: Any = cls
    walked: list[str] = []
    for part in dotted.split("."):
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            raise ConfigError(f"override {dotted!r}: {'.'.join(walked)} is not a section")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp) if f.init]
        if part not in names:
            where = ".".join(walked) or "top level"
            raise ConfigError(
                f"override {dotted!r}: unknown key {part!r} in {where}; allowed keys: {sorted(names)}"
            )
        tp = hints[part]
        walked.append(part)
    return tp
