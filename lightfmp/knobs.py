"""Configuration declared once: a dataclass field carries its default, its help and its command-line flag.

``knob(default, help, flag="--epochs")`` is a `dataclasses.field` whose metadata the CLI reads to build
its options (`lightfmp.cli.common`): the default and the help text live beside the field, nowhere else.
Fields without a flag are still settable from the command line with ``--set section.name=value``
(`with_overrides`): the name is checked against the dataclass (an unknown one is refused with the
known names) and the text parsed by the field's type (int, float, bool, str, tuple[int, ...], X | None),
or by the field's own ``parse`` where the text has a form of its own ('400,400,200', 'xavier').
Torch-free, so the CLI builds its options without importing torch.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Callable, Mapping

from lightfmp.errors import InputError

_NONE_WORDS = ("none", "null", "auto")


def knob(default: Any, help: str, *, flag: str | None = None, parse: Callable[[str], Any] | None = None,
         show: str | None = None, **click_kw: Any) -> Any:
    """A dataclass field with its help, its CLI flag (None: ``--set`` only), a text parser and the default
    as --help shows it; ``click_kw`` are extra click option arguments (``type=click.IntRange(min=1)``...)."""
    meta = {"help": help, "flag": flag, "parse": parse, "show": show, "click": click_kw}
    if isinstance(default, (list, dict, set)):
        raise TypeError("a mutable default needs a factory")
    return dataclasses.field(default=default, metadata=meta)


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def text_to_value(cls: type, name: str, text: str) -> Any:
    """Parse the command-line text of field ``name`` of dataclass ``cls`` (InputError naming the field)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    parse = f.metadata.get("parse")
    try:
        if parse is not None:
            return parse(text)
        return _by_type(field_types(cls)[name], text)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: expected {_type_name(field_types(cls)[name])}, got {text!r} ({exc})") from None


def _by_type(tp: Any, text: str) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        if text.strip().lower() in _NONE_WORDS:
            return None
        return _by_type(next(a for a in args if a is not type(None)), text)
    if tp is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean")
    if typing.get_origin(tp) is tuple:
        return tuple(_by_type(args[0], p.strip()) for p in text.split(",") if p.strip())
    if tp in (int, float, str):
        return tp(text)
    raise TypeError(f"no text form for {tp}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def with_overrides(cfg: Any, pairs: Mapping[str, str], section: str) -> Any:
    """``cfg`` (a frozen dataclass) with ``pairs`` (name -> text) applied; an unknown name is one InputError
    line listing the known ones; the dataclass's own checks (``__post_init__``) run on the result."""
    known = [f.name for f in dataclasses.fields(cfg)]
    for name in pairs:
        if name not in known:
            raise InputError(f"--set {section}.{name}: {section} has no setting {name!r}; "
                             f"it has {', '.join(known)}")
    values = {n: text_to_value(type(cfg), n, t) for n, t in pairs.items()}
    try:
        return dataclasses.replace(cfg, **values)
    except ValueError as exc:
        raise InputError(f"--set {section}: {exc}") from None


def split_settings(items: tuple[str, ...] | list[str], sections: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``("train.embed_l2=1e-4", "model.batch_norm=true")`` -> {"train": {"embed_l2": "1e-4"}, ...}."""
    out: dict[str, dict[str, str]] = {s: {} for s in sections}
    for item in items:
        key, eq, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not eq or not dot or not name:
            raise InputError(f"--set {item!r}: expected SECTION.NAME=VALUE (sections: {', '.join(sections)})")
        if section not in out:
            raise InputError(f"--set {item!r}: unknown section {section!r}; sections: {', '.join(sections)}")
        out[section][name.strip()] = value.strip()
    return out


def flagged(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that have a CLI flag, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]
