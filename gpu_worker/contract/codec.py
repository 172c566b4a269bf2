"""Typed JSON for the contract's dataclasses: `encode` to plain JSON values, `decode` back, strictly.

Standard library only. `decode` checks every field against the dataclass's type hints and raises
`ContractError` on a missing field, an unknown field or a wrong type, so neither tier ever reads a
payload by string keys and hopes.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin


class ContractError(ValueError):
    """A payload does not match this contract version."""


T = TypeVar("T")


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """A `cls` instance from JSON data; `cls` is a dataclass (or any type the contract uses)."""
    return _decode(cls, data, path or getattr(cls, "__name__", "value"))


def _decode(tp: Any, data: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data, path)
            except ContractError as exc:
                errors.append(str(exc))
        raise ContractError(errors[0] if len(errors) == 1 else f"{path} has the wrong type ({type(data).__name__})")
    if origin is Literal:
        if data not in get_args(tp):
            raise ContractError(f"{path} must be one of {', '.join(map(repr, get_args(tp)))}; got {data!r}")
        return data
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise ContractError(f"{path} has the wrong type ({type(data).__name__}), expected a list")
        item_type = get_args(tp)[0] if get_args(tp) else Any
        items = [_decode(item_type, v, f"{path}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(data, dict):
            raise ContractError(f"{path} has the wrong type ({type(data).__name__}), expected an object")
        value_type = get_args(tp)[1] if get_args(tp) else Any
        return {str(k): _decode(value_type, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise ContractError(f"{path}: unknown value {data!r}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ContractError(f"{path} must be an object")
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ContractError(f"{path} has unknown field(s): {', '.join(unknown)}")
        hints = _hints(tp)
        values = {}
        for name, field in fields.items():
            if name not in data:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise ContractError(f"missing field {name!r} in {path}")
                continue
            values[name] = _decode(hints[name], data[name], f"{path}.{name}")
        try:
            return tp(**values)
        except (TypeError, ValueError) as exc:  # __post_init__ checks
            raise ContractError(f"{path}: {exc}") from None
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ContractError(f"field {path!r} has the wrong type ({type(data).__name__})")
        return float(data)
    if tp in (int, str, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise ContractError(f"field {path!r} has the wrong type ({type(data).__name__})")
        return data
    raise ContractError(f"{path}: the contract cannot decode {tp!r}")
