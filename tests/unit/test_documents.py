"""Every GraphQL document rackshop sends validates against Shopify's real 2026-07 schema.

The test finds the documents itself (every ``.graphql`` file in the package's documents folder),
so a new document is covered without editing this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from rackshop.shopify.client import document_names, load_document

NAMES = document_names()


def test_there_are_documents() -> None:
    assert "ShopInfo" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_document_validates_against_real_schema(name: str, real_schema: Any) -> None:
    errors = validate(real_schema, parse(load_document(name)))
    assert not errors, f"{name}.graphql: " + "; ".join(e.message for e in errors)


@pytest.mark.parametrize("name", NAMES)
def test_document_has_one_named_operation(name: str) -> None:
    doc = parse(load_document(name))
    ops = [d for d in doc.definitions if d.kind == "operation_definition"]
    assert len(ops) == 1, f"{name}.graphql must hold exactly one operation"
    assert ops[0].name is not None and ops[0].name.value == name, (
        f"{name}.graphql: the operation must be named {name} (it is the cost-memory key)")
