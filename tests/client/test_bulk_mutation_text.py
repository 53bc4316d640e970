"""The mutation text a bulk mutation sends: fragments inlined, the root field aliased with the
caller's token, still valid against Shopify's real 2026-07 schema."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse, validate

from rackshop.shopify.bulk import bulk_mutation_text, jsonl_bytes


@pytest.mark.parametrize(("name", "root"), [("ProductSetCreate", "productSet"),
                                            ("PublishablePublish", "publishablePublish")])
def test_the_text_is_one_aliased_mutation_without_fragments(name: str, root: str,
                                                             real_schema: Any) -> None:
    text = bulk_mutation_text(name, "rackshop_create_0123456789ab")
    doc = parse(text)
    assert not any(isinstance(d, FragmentDefinitionNode) for d in doc.definitions)
    (op,) = doc.definitions
    assert isinstance(op, OperationDefinitionNode)
    (field,) = op.selection_set.selections
    assert (field.alias.value, field.name.value) == (  # type: ignore[union-attr]
        "rackshop_create_0123456789ab", root)
    assert "..." not in text.replace("... on", "")  # spreads became inline fragments
    assert not validate(real_schema, doc)


def test_jsonl_is_one_compact_object_per_line() -> None:
    assert jsonl_bytes([{"a": "æ"}, {"b": [1, 2]}]) == '{"a":"æ"}\n{"b":[1,2]}\n'.encode()
