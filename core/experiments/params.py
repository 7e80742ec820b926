"""Declaring a configuration field once: its default, type, allowed range or choices and help.

`param(...)` is a `dataclasses.field` whose metadata is a `Param`. From that one declaration
`core.experiments.config` validates values, the CLI builds its flags (`core.cli.flags`) and the
dashboard builds its widgets (`ui.forms`), so an option exists in exactly one place.

Choices may be a tuple or a zero-argument function returning the names (a registry's `names`),
looked up when needed so that this module imports nothing above it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from core.errors import ParameterError, check_range, number_text

Choices = Union[Sequence[Any], Callable[[], Sequence[Any]], None]


@dataclass(frozen=True)
class Param:
    """What the CLI, the dashboard and validation need to know about one field.

    low/high/low_open: numeric range (numbers only; NaN and ±inf always refused).
    choices: allowed values (a tuple, or a function returning them, e.g. a registry's names).
    label: the dashboard's widget label; help: one sentence for `--help` and the tooltip.
    advanced: shown in the dashboard's "Advanced" expander.
    captions: for choices, one sentence per choice that the dashboard shows under the widget.
    """

    help: str
    label: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: Choices = None
    advanced: bool = False
    metavar: str | None = None
    nonempty: bool = False  # sequences: at least one item
    none_label: str = "none"  # how an optional choice reads when it is not set (widgets)
    captions: tuple[tuple[str, str], ...] = ()  # (choice, one sentence shown under the widget)

    def allowed(self) -> tuple | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def range_text(self) -> str:
        lo = "-inf" if self.low is None else number_text(self.low)
        hi = "inf" if self.high is None else number_text(self.high)
        return f"{'(' if self.low_open else '['}{lo}, {hi}]"


def param(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its `Param` metadata (tuples are immutable, so defaults are safe)."""
    return dataclasses.field(default=default, metadata={"param": Param(help=help, **kwargs)})


@dataclass(frozen=True)
class FieldInfo:
    """One configuration field as the adapters see it: section, name, base type, metadata."""

    section: str
    name: str
    kind: type            # int | float | str | bool
    optional: bool        # None allowed
    sequence: bool        # a tuple of `kind`
    default: Any
    param: Param

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def field_info(section: str, f: dataclasses.Field, hints: dict[str, Any]) -> FieldInfo:
    """Read a field's base type from its annotation (e.g. `float | None`, `tuple[str, ...]`)."""
    tp, optional, sequence = hints[f.name], False, False
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (Union, types.UnionType) and type(None) in args:
        optional = True
        tp = next(a for a in args if a is not type(None))
    if typing.get_origin(tp) is tuple:
        sequence, tp = True, typing.get_args(tp)[0]
    return FieldInfo(section, f.name, tp, optional, sequence, f.default, f.metadata["param"])


def check_value(info: FieldInfo, value: Any) -> Any:
    """The value, normalised (lists to tuples, ints to floats where a float is wanted), or a
    ParameterError naming the field and what is allowed."""
    if value is None:
        if info.optional:
            return None
        raise ParameterError(info.name, value, _describe(info))
    if info.sequence:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ParameterError(info.name, value, f"a list of {_describe(info, one=True)}")
        out = tuple(_check_one(info, v) for v in value)
        if not out and info.param.nonempty:
            raise ParameterError(info.name, value, f"one or more of {_describe(info, one=True)}")
        return tuple(dict.fromkeys(out))  # de-duplicated, order kept
    return _check_one(info, value)


def _check_one(info: FieldInfo, value: Any) -> Any:
    p = info.param
    if info.kind is bool:
        if not isinstance(value, bool):
            raise ParameterError(info.name, value, "true or false")
        return value
    if info.kind in (int, float):
        ok_int = isinstance(value, int) and not isinstance(value, bool)
        if info.kind is int and not ok_int:
            if not (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
                raise ParameterError(info.name, value, f"a whole number in {p.range_text()}")
            value = int(value)
        if info.kind is float and not (ok_int or isinstance(value, float)):
            raise ParameterError(info.name, value, f"a number in {p.range_text()}")
        check_range(info.name, value, p.low, p.high, p.low_open)
        value = info.kind(value)
    elif not isinstance(value, str):
        raise ParameterError(info.name, value, _describe(info, one=True))
    allowed = p.allowed()
    if allowed is not None and value not in allowed:
        raise ParameterError(info.name, value, f"one of {', '.join(map(str, allowed))}")
    return value


def _describe(info: FieldInfo, one: bool = False) -> str:
    allowed = info.param.allowed()
    if allowed is not None:
        return f"one of {', '.join(map(str, allowed))}"
    if info.kind in (int, float):
        return ("a whole number" if info.kind is int else "a number") + f" in {info.param.range_text()}"
    return "a text value" if one or not info.optional else "a text value or nothing"


def parse_text(info: FieldInfo, text: str) -> Any:
    """A value typed as text (a CLI flag, a dashboard text box) -> the field's Python value, not
    yet range-checked: numbers parsed, lists split on commas (or semicolons). The one parser of
    comma-separated lists such as ε values."""
    def one(t: str) -> Any:
        t = t.strip()
        try:
            return int(t) if info.kind is int else float(t) if info.kind is float else t
        except ValueError:
            kind = "a whole number" if info.kind is int else "a number"
            raise ParameterError(info.name, t, f"{kind} in {info.param.range_text()}") from None
    if info.sequence:
        return [one(t) for t in text.replace(";", ",").split(",") if t.strip()]
    if info.optional and not text.strip():
        return None
    return one(text)


def parse_pairs(text: str | None, name: str, roles: Sequence[str],
                aliases: dict[str, str] | None = None) -> dict[str, str] | None:
    """'user=uid,time=ts' -> {'user': 'uid', 'time': 'ts'}; ParameterError naming the field and
    the roles allowed (`aliases` maps alternative role names, e.g. x -> lon)."""
    if text is None or not str(text).strip():
        return None
    aliases = aliases or {}
    allowed = f"ROLE=NAME pairs separated by commas, roles among {', '.join(roles)}"
    out: dict[str, str] = {}
    for item in str(text).split(","):
        role, sep, value = item.partition("=")
        role = aliases.get(role.strip().lower(), role.strip().lower())
        if not sep or not value.strip() or role not in roles or role in out:
            raise ParameterError(name, text, allowed + " (each once)")
        out[role] = value.strip()
    return out
