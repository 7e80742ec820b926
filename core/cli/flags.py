"""CLI flags generated from the configuration's field declarations (`core.experiments.config`).

Every flag defaults to "not given" (argparse.SUPPRESS), so the config is built from exactly what
the user typed on top of the chosen preset's defaults; `--help` shows each field's default (and
the realistic preset's where it differs), its range or choices — registry names included.
"""
from __future__ import annotations

import argparse
from typing import Any, Iterable

from core.experiments.config import PRESETS, RunConfig, all_fields
from core.errors import ParameterError
from core.experiments.params import FieldInfo, parse_text


def _converter(info: FieldInfo):
    def convert(text: str) -> Any:
        try:
            return parse_text(info, text)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = info.kind.__name__
    return convert


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) or "none"
    return "none" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def help_text(info: FieldInfo) -> str:
    """The field's help, its allowed values and its default(s), for `--help`."""
    p = info.param
    allowed = p.allowed()
    parts = [p.help]
    if allowed is not None:
        parts.append("choices: " + ", ".join(map(str, allowed)))
    elif info.kind in (int, float):
        parts.append(f"range {p.range_text()}")
    default = f"default: {_show(info.default)}"
    others = [f"{name} preset: {_show(pre[info.name])}" for name, pre in PRESETS.items()
              if info.name in pre and pre[info.name] != info.default]
    parts.append(default + (f" ({'; '.join(others)})" if others else ""))
    return "; ".join(parts).replace("%", "%%")


def add_config_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """`--preset` and one flag per configuration field in `names`."""
    fields = all_fields()
    parser.add_argument("--preset", default="paper", choices=list(PRESETS),
                        help="paper: the paper's setting (regression head, streaming, ε per "
                             "round); realistic: classification head with a fixed input scale, "
                             "history protocol, server Adam (default: paper)")
    for name in names:
        info = fields[name]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS,
                                  "help": help_text(info)}
        if info.kind is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = _converter(info)
            allowed = info.param.allowed()
            kwargs["metavar"] = info.param.metavar or (
                "{" + ",".join(map(str, allowed)) + "}" if allowed else info.name.upper())
        parser.add_argument(info.flag, **kwargs)


def config_from_args(args: argparse.Namespace, names: Iterable[str]) -> RunConfig:
    """The validated config from the flags the user gave (others: the preset's defaults)."""
    given = {n: getattr(args, n) for n in names if hasattr(args, n)}
    return RunConfig.build(getattr(args, "preset", "paper"), **given)
