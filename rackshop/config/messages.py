"""pydantic's errors, reworded for merchants: the key path, what is wrong, and what to write.

pydantic says *what* failed (``int_type`` at ``("stock", "buffer")``); the schema says what the
key is (its type, range, allowed values and :class:`~rackshop.config.fields.Hint`). This module
joins the two into one :class:`~rackshop.errors.ConfigProblem` per error, with a did-you-mean for
unknown keys and values. Nothing here knows a particular key.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from rackshop import redact
from rackshop.config.fields import PROBLEM, Hint, describe, short
from rackshop.config.schema import ConfigFile, SecretRef, Table
from rackshop.errors import ConfigProblem


@dataclass(frozen=True)
class SecretNames:
    """The names suggested for a table's secrets: ``SHOPIFY_DK_TOKEN``, ``dk-token.txt``."""

    env_prefix: str
    file_prefix: str

    def how(self, key: str) -> str:
        """How to write the secret ``key`` as a reference."""
        env = f"{self.env_prefix}_{key.upper()}"
        file = f"{self.file_prefix}-{key.replace('_', '-')}.txt"
        return (
            f'put it in an environment variable and write {key} = {{ env = "{env}" }}, '
            f'or in a file: {key} = {{ file = "{file}" }}'
        )


# ----------------------------------------------------------------------------------------------
# The schema's tables and keys.


def table_models() -> dict[str, type[Table]]:
    """Every table of the file by its header (``""`` is the top level), in documentation order."""
    out: dict[str, type[Table]] = {}

    def visit(header: str, model: type[Table]) -> None:
        out[header] = model
        for name, info in model.model_fields.items():
            child = table_of(info.annotation)
            if child is not None and child is not SecretRef:
                visit(f"{header}.{name}" if header else name, child)

    visit("", ConfigFile)
    return out


def table_of(annotation: Any) -> type[Table] | None:
    """The table model a key holds (``[shops.orders]``, each ``[[shops]]``), if it holds one."""
    ann, _ = unwrap(annotation)
    if get_origin(ann) is list:
        ann, _ = unwrap(get_args(ann)[0])
    if isinstance(ann, type) and issubclass(ann, Table):
        return ann
    return None


def header(schema: str) -> str:
    """A table as the file writes its header: ``[shops.orders]``, ``[[shops]]``."""
    if schema == "":
        return "the top level of the file"
    if schema == "shops":
        return "[[shops]]"
    return f"[{schema}]"


def _where(schema: str) -> str:
    return "at the top level of the file" if schema == "" else f"in {header(schema)}"


def suggest(value: str, allowed: Sequence[str], prefix: str = "; did you mean") -> str:
    """``; did you mean 'paid'?`` for the nearest allowed value, or nothing."""
    folded = value.strip().lower().replace("-", "_").replace(" ", "_")
    if folded in allowed:
        return f"{prefix} '{folded}'?"
    close = difflib.get_close_matches(folded, list(allowed), n=1, cutoff=0.6)
    return f"{prefix} '{close[0]}'?" if close else ""


def unknown_key(key: str, schema: str) -> str:
    """Why ``key`` is not a key of the table ``schema``, and where it probably belongs."""
    allowed = TABLE_KEYS[schema]
    suggestion = suggest(key, allowed)
    if suggestion:
        return "unknown key" + suggestion
    folded = key.strip().lower().replace("-", "_")
    homes = [s for s, keys in TABLE_KEYS.items() if s != schema and folded in keys]
    parent = schema.rpartition(".")[0] if schema else None
    if parent is not None and parent in homes:
        return (
            f"unknown key {_where(schema)}; it belongs in {header(parent)}. In TOML every key "
            f"after a [table] header belongs to that table: move this line above the "
            f"{header(schema)} header"
        )
    if len(homes) == 1:
        extra = ""
        if homes[0].startswith("shops") and not schema.startswith("shops"):
            extra = " (each shop is its own [[shops]] table)"
        return f"unknown key {_where(schema)}; it belongs in {header(homes[0])}{extra}"
    if homes:
        return f"unknown key {_where(schema)}; it is a key of " + " or ".join(
            header(h) for h in homes
        )
    where = "the top-level keys" if schema == "" else f"the keys of {header(schema)}"
    return f"unknown key; {where} are: {', '.join(allowed)}"


# ----------------------------------------------------------------------------------------------
# What the schema says about one place (a key, an array item, a map entry).


def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under ``Annotated`` and ``| None``, and the metadata collected on the way."""
    meta: list[Any] = []
    ann = annotation
    while True:
        origin = get_origin(ann)
        if origin is Annotated:
            args = get_args(ann)
            ann = args[0]
            for m in args[1:]:
                meta.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        elif origin in (Union, types.UnionType) and type(None) in get_args(ann):
            arms = [a for a in get_args(ann) if a is not type(None)]
            if len(arms) != 1:
                return ann, meta
            ann = arms[0]
        else:
            return ann, meta


TABLE_KEYS: dict[str, tuple[str, ...]] = {
    header: tuple(model.model_fields) for header, model in table_models().items()
}
"""Every table of the schema and its keys, in documentation order."""


@dataclass
class Place:
    """One place in the file, as the schema describes it."""

    path: str
    key: str
    """The last key name on the way (``fields`` for ``fields[1]``)."""
    owner: type[Table] | None
    """The table (or secret reference) the place holds, if it holds one."""
    ann: Any = None
    meta: list[Any] = field(default_factory=list)
    item: bool = False
    """An array item or a map entry, not a key."""

    @property
    def hint(self) -> Hint:
        merged = Hint()
        for m in self.meta:
            if isinstance(m, Hint):
                merged = dataclasses.replace(
                    merged, **{f.name: getattr(m, f.name) for f in dataclasses.fields(m)
                               if getattr(m, f.name)})
        return merged

    def bound(self, kind: type[at.Ge | at.Gt | at.Le]) -> Any:
        """The bound of that kind the schema sets here (``Ge`` -> its ``ge``), if any."""
        for m in self.meta:
            if isinstance(m, kind):
                return getattr(m, kind.__name__.lower())
        return None


def place(model: type[Table], path: str, loc: tuple[int | str, ...]) -> Place:
    """Follow ``loc`` (a pydantic error location) from ``model``: the path and the schema."""
    here = Place(path, "", model)
    map_keys = False
    for step in loc:
        if step == "[key]":  # pydantic's mark of a map's key (not its value)
            continue
        owner = here.owner
        if isinstance(step, int):
            ann, meta = _element(here.ann, 0)
            # A value an array refuses by name is worded by the array's hint.
            meta.append(Hint(refused=here.hint.refused))
            here = Place(f"{here.path}[{step}]", here.key, None, ann, meta, item=True)
        elif step.startswith('["'):
            here = Place(here.path + step, here.key, None, *_element(here.ann, 1), item=True)
        elif map_keys:
            here = Place(f'{here.path}["{step}"]', here.key, None, *_element(here.ann, 1),
                         item=True)
        elif owner is not None and step in owner.model_fields:
            info = owner.model_fields[step]
            ann, meta = unwrap(info.annotation)
            meta = list(info.metadata) + meta
            child = table_of(ann)
            joined = f"{here.path}.{step}" if here.path else step
            here = Place(joined, step, child, ann, meta)
        else:
            here = Place(f"{here.path}.{step}" if here.path else step, step, None)
        # The next step of a map (a key path's ["entry"]) names an entry, not a key.
        map_keys = here.hint.map_key and get_origin(here.ann) is dict
    return here


def _element(ann: Any, index: int) -> tuple[Any, list[Any]]:
    args = get_args(ann)
    if get_origin(ann) in (list, tuple) and args:
        return unwrap(args[0])
    if get_origin(ann) is dict and len(args) == 2:
        return unwrap(args[index])
    return None, []


# ----------------------------------------------------------------------------------------------
# The messages.


def problems(
    errors: Sequence[ErrorDetails], model: type[Table], schema: str, path: str, names: SecretNames
) -> Iterator[ConfigProblem]:
    """Each pydantic error of a table as a problem with its key path."""
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            owner_place = place(model, path, loc[:-1])
            key = str(loc[-1])
            target = place(model, path, loc)
            if owner_place.owner is SecretRef:
                shape = 'a secret is { env = "NAME" } or { file = "path" }'
                close = suggest(key, tuple(SecretRef.model_fields))
                text = f"unknown key{close} ({shape})" if close else f"unknown key; {shape}"
                yield ConfigProblem(target.path, text)
            else:
                yield ConfigProblem(target.path, unknown_key(key, schema))
            continue
        here = place(model, path, loc)
        yield ConfigProblem(here.path, _message(error, here, names))


def _message(error: ErrorDetails, here: Place, names: SecretNames) -> str:
    kind, value, hint = error["type"], error["input"], here.hint
    if kind == PROBLEM:
        text = str((error.get("ctx") or {})["message"])
        if here.owner is SecretRef and text == "empty secret reference":
            return f"{text}; {names.how(here.key)}"
        return text
    if here.owner is SecretRef or hint.secret:
        return _secret_shape(value, here.key, names)
    if here.owner is not None and kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a table (a {header(here.owner.header)} section), got {describe(value)}"
    for wording in _WORDINGS:
        worded = wording(kind, value, here)
        if worded:
            return worded
    return f"{error['msg']}, got {describe(value)}"


def _secret_shape(value: Any, key: str, names: SecretNames) -> str:
    if isinstance(value, str):
        # The value is in the file already; at least keep it out of anything we log.
        redact.register(value)
        return f"a secret must not be written in the config file; {names.how(key)}"
    return (
        f'expected {{ env = "NAME" }} or {{ file = "path" }}, got {describe(value)}; '
        f"{names.how(key)}"
    )


def _boolean(kind: str, value: Any, here: Place) -> str | None:
    if kind != "bool_type":
        return None
    key = here.key
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        word = "true" if value.strip().lower() in ("true", "yes") else "false"
        fix = f"; write {key} = {word} (no quotes)"
    elif isinstance(value, int) and value in (0, 1):
        fix = f"; write {key} = {'true' if value else 'false'}"
    else:
        fix = f"; write {key} = true or {key} = false"
    return f"expected true or false, got {describe(value)}{fix}"


def _integer(kind: str, value: Any, here: Place) -> str | None:
    if kind not in ("int_type", "int_parsing", "int_from_float"):
        return None
    hint = here.hint
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        fix = (f" (write {value.strip()} without quotes)" if here.item
               else f"; write {here.key} = {value.strip()} (no quotes)")
    elif isinstance(value, float) and value.is_integer():
        fix = f"; write {here.key} = {int(value)} (a whole number)"
    else:
        fix = ""
    expected = hint.expected or f"an integer{hint.what}"
    return f"expected {expected}, got {describe(value)}{fix}"


def _number(kind: str, value: Any, here: Place) -> str | None:
    if kind not in ("float_type", "float_parsing"):
        return None
    fix = ""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        fix = f"; write {here.key} = {value.strip()} (no quotes)"
    return f"expected a number, got {describe(value)}{fix}"


def _text(kind: str, value: Any, here: Place) -> str | None:
    if kind in ("string_too_short", "too_short") and isinstance(value, str):
        if here.item:
            return "must not be empty"
        return "must not be empty; remove the line to use the default"
    if kind != "string_type":
        return None
    expected = here.hint.expected or "a string"
    if here.item:
        return f"expected {expected}, got {describe(value)}"
    return f'expected {expected}, got {describe(value)}; write {here.key} = "..." (quoted)'


def _range(kind: str, value: Any, here: Place) -> str | None:
    if kind not in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return None
    what = here.hint.what
    if here.hint.low and kind in ("greater_than_equal", "greater_than"):
        return here.hint.low.format(v=value)
    lo_open = here.bound(at.Gt) is not None
    lo = here.bound(at.Gt) if lo_open else here.bound(at.Ge)
    hi = here.bound(at.Le)
    if here.ann is float:
        parts = [f"greater than {lo:g}" if lo_open else f"at least {lo:g}"] if lo is not None \
            else []
        if hi is not None:
            parts.append(f"at most {hi:g}")
        return f"{value} is out of range: must be {' and '.join(parts)}{what}"
    if lo is not None and hi is not None:
        text = f"allowed {lo}..{hi}"
    elif lo is not None:
        text = f"must be {lo} or more"
    else:
        text = f"must be {hi} or less"
    return f"{value} is out of range: {text}{what}"


def _choice(kind: str, value: Any, here: Place) -> str | None:
    if kind != "literal_error":
        return None
    for refused, message in here.hint.refused:
        if value == refused:
            return message
    allowed = [str(a) for a in get_args(here.ann)] if get_origin(here.ann) is Literal else []
    choices = ", ".join(allowed)
    if not isinstance(value, str):
        return f"expected one of {choices} (a quoted string), got {describe(value)}"
    return f"{short(value)} is not one of {choices}{suggest(value, allowed)}"


def _array(kind: str, value: Any, here: Place) -> str | None:
    if kind == "list_type":
        return f"expected {here.hint.expected or 'an array'}, got {describe(value)}"
    if kind == "too_short":
        return here.hint.empty or "must not be empty"
    if kind == "dict_type":
        return f"expected {here.hint.expected or 'a table'}; got {describe(value)}"
    return None


_WORDINGS: tuple[Callable[[str, Any, Place], str | None], ...] = (
    _boolean, _integer, _number, _text, _range, _choice, _array,
)

__all__ = ["TABLE_KEYS", "SecretNames", "header", "problems", "suggest", "table_models"]
