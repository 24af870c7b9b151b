"""pydantic's ValidationError as our ConfigError: one line per problem, for an operator.

Each line names the setting (`opensearch.url`, `cameras[2].timezone`), quotes the bad value unless
the field is secret (`repr=False`), says what is wrong, ends with the field's description (the rule
and the fix) and, when known, where the value came from (a file, an environment variable).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from worker.config.errors import PROBLEM, ConfigError

Loc = tuple[str | int, ...]
Origin = Callable[[Loc], "str | None"]

_WHOLE = "a valid int (a whole number)"
_NUMBER = "a valid float (a number)"
_BOOL = "a valid bool (true or false)"
_MAPPING = "a mapping of keys to values"
_NOT_A: dict[str, str] = {
    "int_type": _WHOLE,
    "int_parsing": _WHOLE,
    "int_from_float": _WHOLE,
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "finite_number": "a finite number",
    "bool_type": _BOOL,
    "bool_parsing": _BOOL,
    "string_type": "a string (quote it in YAML)",
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
    "list_type": "a list",
    "tuple_type": "a list",
}


def _no_origin(loc: Loc) -> str | None:
    return None


def config_error(exc: ValidationError, root: Any, origin: Origin = _no_origin, at: Loc = ()) -> ConfigError:
    """The whole ValidationError as one ConfigError (`root`: the type that was validated; `at`: where
    that value sits in the configuration, e.g. ("cameras",))."""
    return ConfigError("\n".join(problem_lines(exc, root, origin, at)))


def problem_lines(exc: ValidationError, root: Any, origin: Origin = _no_origin, at: Loc = ()) -> list[str]:
    return [_line(error, root, origin, at) for error in exc.errors()]


def where(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line(error: ErrorDetails, root: Any, origin: Origin, at: Loc) -> str:
    loc: Loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, root, at) + _from(origin(at + loc))
    key = str(ctx.get("key") or "") if kind == PROBLEM else ""  # a section-level check names its field
    name = where(at + loc) + (key if key.startswith("[") or not key else f".{key}")
    if key.isidentifier():
        loc += (key,)
    info = _field(root, loc)
    hint = info.description if info is not None else None
    value = _shown(error.get("input"), info)
    if kind == PROBLEM:
        text = f"{name}: {ctx['message']}"
    elif kind == "missing":
        text = f"{name}: is required"
    elif kind in _NOT_A:
        text = f"{name}: {value} is not {_NOT_A[kind]}"
    elif kind == "literal_error":
        text = f"{name}: {value}; use one of {', '.join(map(str, _choices(info)))}"
    elif kind in ("string_too_short", "too_short") and error.get("input") == "":
        text = f"{name}: is empty"
    else:  # a range or a pattern: the field's description says it best
        text = f"{name}: {value}; {hint or error['msg'].removeprefix('Input ')}"
        hint = None
    return text + (f"; {hint}" if hint else "") + _from(origin(at + loc))


def _from(origin: str | None) -> str:
    return f" (from {origin})" if origin else ""


def _shown(value: Any, info: FieldInfo | None) -> str:
    if info is not None and info.repr is False:
        return "the value (secret, not shown)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unknown_key(loc: Loc, root: Any, at: Loc) -> str:
    key = str(loc[-1])
    parent = _model(root, loc[:-1])
    known = list(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(key, known, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    if not loc[:-1] and not at:
        return f"unknown section {key!r}{guess}; expected one of {', '.join(known)}"
    return f"{where(at + loc[:-1])}: unknown key(s) {key}{guess}; known keys: {', '.join(known)}"


def _choices(info: FieldInfo | None) -> tuple[Any, ...]:
    kind = _inner(info.annotation) if info is not None else None
    return get_args(kind) if get_origin(kind) is Literal else ()


def _inner(kind: Any) -> Any:
    """The type under Annotated[...] and Optional[...]."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, types.UnionType):
            others = [arg for arg in get_args(kind) if arg is not type(None)]
            if len(others) != 1:
                return kind
            kind = others[0]
        else:
            return kind


def _walk(root: Any, loc: Loc) -> tuple[Any, FieldInfo | None]:
    """The type at `loc` inside `root`, and the field that declares it (None inside a list)."""
    kind, info = root, None
    for part in loc:
        kind = _inner(kind)
        if isinstance(part, int):
            args = [arg for arg in get_args(kind) if arg is not Ellipsis]
            kind, info = (args[0] if args else None), None
        elif isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields:
            info = kind.model_fields[part]
            kind = info.annotation
        else:
            return None, None
    return kind, info


def _field(root: Any, loc: Loc) -> FieldInfo | None:
    return _walk(root, loc)[1]


def _model(root: Any, loc: Loc) -> type[BaseModel] | None:
    kind = _inner(_walk(root, loc)[0])
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
