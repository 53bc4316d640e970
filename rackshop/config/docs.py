"""What the schema tells people and editors: the JSON Schema, the key tables, ``config show``.

Everything here is generated from :mod:`.schema`, so the documentation cannot drift from what
rackshop accepts. ``python -m rackshop.config.docs`` rewrites the generated parts of
``docs/config.md`` (between ``<!-- keys: TABLE -->`` and ``<!-- /keys -->`` markers) and the
committed schema file; a test fails when either is stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from rackshop.config.messages import table_models
from rackshop.config.objects import Config
from rackshop.config.schema import ConfigFile
from rackshop.config.values import FrozenMap, Secret

SCHEMA_URL = "http://json-schema.org/draft-07/schema#"
"""Draft-07: the dialect TOML and YAML editors (Taplo, Even Better TOML) support most widely."""
SCHEMA_FILE = Path("examples") / "rackshop.schema.json"
"""Where the JSON Schema is committed, relative to the source tree (``#:schema`` points here)."""
DOCS_FILE = Path("docs") / "config.md"


class _TomlSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, as a TOML file has it: no ``null``, no generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # TOML has no null: a key that may be None is a key that may be left out.
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of the configuration file, for editors (Taplo)."""
    schema = ConfigFile.model_json_schema(
        schema_generator=_TomlSchema, ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs")
    return {"$schema": SCHEMA_URL, **_draft7(schema), "definitions": _draft7(definitions)}


def _draft7(node: Any) -> Any:
    """pydantic's schema as draft-07 reads it: no null defaults, nothing beside a ``$ref``."""
    if isinstance(node, list):
        return [_draft7(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft7(v) for k, v in node.items() if not (k == "default" and v is None)}
    if "$ref" in out and len(out) > 1:
        # Draft-07 ignores the keys beside a $ref (the description of a table or secret key).
        return {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def json_schema_text() -> str:
    """The JSON Schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------------------------
# The key tables of docs/config.md.

_BEGIN = re.compile(r"<!-- keys: (?P<table>[a-z.]*) -->\n.*?<!-- /keys -->", re.DOTALL)


def key_table(header: str) -> str:
    """The Markdown table of one table's keys: type, default, allowed values, meaning."""
    schema = json_schema()
    defs = schema["definitions"]
    model = table_models()[header]
    node = schema if model is ConfigFile else defs[model.__name__]
    required = set(node.get("required", ()))
    rows = ["| key | type | default | allowed / meaning |", "|---|---|---|---|"]
    for key, prop in node["properties"].items():
        if _is_table(prop, defs):
            continue
        default = "required" if key in required else _default(prop)
        allowed = _allowed(prop, defs)
        meaning = prop.get("description", "")
        text = f"{allowed}. {meaning}" if allowed else meaning
        rows.append(f"| `{key}` | {_type(prop, defs)} | {default} | {text} |")
    return "\n".join(rows) + "\n"


def _target(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = prop.get("$ref") or next(
        (a["$ref"] for a in prop.get("allOf", ()) if "$ref" in a), None)
    if ref is None and prop.get("type") == "array" and "$ref" in prop.get("items", {}):
        ref = prop["items"]["$ref"]
    return defs[ref.rsplit("/", 1)[1]] if ref else None


def _is_table(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    target = _target(prop, defs)
    return target is not None and target.get("title") != "secret reference"


def _type(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if _target(prop, defs) is not None:
        return "secret"
    if "anyOf" in prop:
        arms = prop["anyOf"]
        if all(a.get("format", "").endswith(("date", "date-time")) for a in arms):
            return "date or date-time"
        return " or ".join(_type(a, defs) for a in arms)
    if "const" in prop:
        return f'`"{prop["const"]}"`'
    kind = prop.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        item = prop.get("items", {})
        return f"array of {_type(item, defs)}s" if item else "array"
    if kind == "object":
        return "table"
    return str(kind or "any")


def _toml(value: Any) -> str:
    """A value as TOML writes it, on one line."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return tomli_w.dumps({"v": value}).strip().partition("= ")[2]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _default(prop: Mapping[str, Any]) -> str:
    if "default" not in prop:
        return "none"
    return f"`{_toml(prop['default'])}`"


def _allowed(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return ", ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array" and "enum" in prop.get("items", {}):
        return "any of " + ", ".join(f"`{v}`" for v in prop["items"]["enum"])
    lo = prop.get("minimum", prop.get("exclusiveMinimum"))
    hi = prop.get("maximum")
    if lo is None and hi is None:
        return ""
    gt = "exclusiveMinimum" in prop
    if hi is None:
        return f"`{'>' if gt else '>='} {_num(lo)}`"
    if gt:
        return f"`> {_num(lo)}`, at most `{_num(hi)}`"
    return f"`{_num(lo)}..{_num(hi)}`" if lo is not None else f"`<= {_num(hi)}`"


def render_docs(text: str) -> str:
    """``text`` (docs/config.md) with every generated key table brought up to date."""

    def table(m: re.Match[str]) -> str:
        name = m.group("table")
        return f"<!-- keys: {name} -->\n{key_table(name)}<!-- /keys -->"

    return _BEGIN.sub(table, text)


# ----------------------------------------------------------------------------------------------
# config show.


def show(config: Config, raw: Mapping[str, Any], found: str = "") -> Iterator[str]:
    """The effective configuration as TOML lines: every key with its value and source.

    A key's source is ``file`` (written in it), ``default`` (the schema's), or for a secret where
    it is read from (``environment variable NAME``, ``file PATH``). Secrets show as ``***``.

    Args:
        config: The validated configuration.
        raw: The parsed file, to tell keys written from keys left out.
        found: How the file was chosen (``--config``, ``$RACKSHOP_CONFIG``), for the header.
    """
    yield f"# the effective configuration of {config.source or '(no file)'}{found}"
    yield "# each value with its source: file, default, or where a secret is read from"
    yield from _show_tables("", config, raw)


def _show_tables(prefix: str, table: Any, raw: Mapping[str, Any]) -> Iterator[str]:
    """Every sub-table of ``table`` (a dataclass), each with its own sub-tables after it."""
    for f in dataclasses.fields(table):
        value, name = getattr(table, f.name), f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(value):
            yield from _show_table(f"[{name}]", value, raw.get(f.name, {}))
            yield from _show_tables(name, value, raw.get(f.name, {}))
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            items = raw.get(f.name, [])
            for i, item in enumerate(value):
                raw_item = items[i] if i < len(items) else {}
                yield from _show_table(f"[[{name}]]", item, raw_item)
                yield from _show_tables(name, item, raw_item)


def _show_table(title: str, table: Any, raw: Mapping[str, Any]) -> Iterator[str]:
    yield ""
    yield title
    for f in dataclasses.fields(table):
        value = getattr(table, f.name)
        if dataclasses.is_dataclass(value):
            continue
        source = "file" if f.name in raw else "default"
        if isinstance(value, Secret):
            yield _line(f.name, '"***"', value.source)
        elif value is None:
            yield f"# {f.name} is not set".ljust(60) + f"  # {source}"
        else:
            yield _line(f.name, _toml(_plain(value)), source)


def _line(key: str, value: str, source: str) -> str:
    return f"{key} = {value}".ljust(60) + f"  # {source}"


def _plain(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.datetime):
        return value
    return value


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/config.md's key tables and the schema file (``--check``: only compare)."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[args.index("--root") + 1]) if "--root" in args else Path.cwd()
    stale: list[Path] = []
    for path in (root / DOCS_FILE, root / SCHEMA_FILE):
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = render_docs(old) if path.suffix == ".md" else json_schema_text()
        if new != old:
            stale.append(path)
            if "--check" not in args:
                path.write_text(new, encoding="utf-8")
    verb = "stale" if "--check" in args else "written"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if stale and "--check" in args else 0


if __name__ == "__main__":
    raise SystemExit(main())
