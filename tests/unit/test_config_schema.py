"""The schema is the one source: docs tables, JSON Schema and the validator agree with it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from rackshop.config import TABLE_KEYS, validate_dict
from rackshop.config.build import _DATACLASSES
from rackshop.config.docs import DOCS_FILE, SCHEMA_FILE, json_schema, json_schema_text, render_docs
from rackshop.config.messages import table_models
from rackshop.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_docs_key_tables_are_generated_from_the_schema() -> None:
    text = (ROOT / DOCS_FILE).read_text(encoding="utf-8")
    assert text.count("<!-- keys: ") == len(TABLE_KEYS) - 1  # every table but the top level
    assert render_docs(text) == text, (
        "docs/config.md is stale: run `python -m rackshop.config.docs` and commit the result"
    )


def test_committed_json_schema_is_current() -> None:
    committed = (ROOT / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == json_schema_text(), (
        f"{SCHEMA_FILE} is stale: run `python -m rackshop.config.docs` and commit the result"
    )


def test_json_schema_is_valid_draft_07_with_every_table() -> None:
    schema = json_schema()
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["rackbeat", "shops"]
    assert set(schema["properties"]) == set(TABLE_KEYS[""])
    shop = schema["definitions"]["ShopTable"]
    assert shop["additionalProperties"] is False and shop["required"] == ["name", "domain"]
    assert shop["properties"]["plan"]["enum"] == ["standard", "advanced", "plus", "enterprise"]
    assert schema["definitions"]["StockTable"]["properties"]["buffer"] == {
        "default": 0, "minimum": 0, "type": "integer",
        "description": schema["definitions"]["StockTable"]["properties"]["buffer"]["description"],
    }
    # TOML has no null: a key that may be left out is not "string or null".
    assert "null" not in json.dumps(schema)
    # Draft-07 ignores the keys beside a $ref: a table's description sits beside an allOf.
    def refs_alone(node: Any) -> bool:
        if isinstance(node, dict):
            return ("$ref" not in node or len(node) == 1) and all(map(refs_alone, node.values()))
        return all(map(refs_alone, node)) if isinstance(node, list) else True

    assert refs_alone(schema) and "$defs" not in json.dumps(schema)


def test_every_key_has_a_description() -> None:
    for header, model in table_models().items():
        for key, info in model.model_fields.items():
            assert info.description, f"{header}.{key} has no description"


def test_every_key_reaches_the_dataclasses() -> None:
    # build.py fills each dataclass field from the key of the same name: none may be missed.
    for header, cls in _DATACLASSES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert fields == set(TABLE_KEYS[header]), header


def _jsonable(value: Any) -> Any:
    """A parsed TOML document as Taplo hands it to the schema: dates become strings."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _example() -> dict[str, Any]:
    return tomllib.loads((ROOT / "examples" / "config.toml").read_text(encoding="utf-8"))


def test_example_config_names_the_schema_and_validates_against_it() -> None:
    first = (ROOT / "examples" / "config.toml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"#:schema ./{SCHEMA_FILE.name}"
    assert (ROOT / "examples" / SCHEMA_FILE.name).is_file()
    errors = list(Draft7Validator(json_schema()).iter_errors(_jsonable(_example())))
    assert errors == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["shops"][0]["orders"].update(procces_to="booked"), "procces_to"),
        (lambda d: d["shops"][0].update(token="shpat_inline0123456789"), "token"),
        (lambda d: d["shops"][0]["orders"].update(transfer_on="payed"), "payed"),
        (lambda d: d["shops"][1]["stock"].update(buffer=-1), "-1"),
        (lambda d: d["shops"][0]["products"].update(fields=[]), "fields"),
        (lambda d: d.pop("rackbeat"), "rackbeat"),
    ],
    ids=["unknown key", "inline secret", "enum typo", "below range", "empty array", "missing"],
)
def test_editor_and_rackshop_refuse_the_same_mistakes(
    tmp_path: Path, change: Any, where: str
) -> None:
    data = _example()
    change(data)
    errors = list(Draft7Validator(json_schema()).iter_errors(_jsonable(data)))
    assert errors and any(where in (str(e.message) + str(list(e.path))) for e in errors)
    with pytest.raises(ConfigError):
        validate_dict(data, env={}, base_dir=tmp_path, resolve_secrets=False, now=NOW)
