"""The twin's query cost against Shopify's recorded ``requestedQueryCost``.

Every recorded exchange that holds a document and ``extensions.cost`` is collected. For each
document the twin's schema can run, the twin's requested cost must equal Shopify's. The same
cost model, applied to the real 2026-07 schema, must also reproduce the cost of every recorded
document (those outside the twin's subset included), so the rules themselves are checked on all
of Shopify's answers, not only on the subset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, parse, validate

from rackshop.sandbox.shopify import ShopifyTwin
from rackshop.sandbox.shopify.app import build_twin_schema
from rackshop.sandbox.shopify.cost import actual_cost, page_multiplier, requested_cost

# Keys under which a file's top-level ``document`` is the one that produced the answers.
_INHERIT = ("mutation", "cases")


def _exchanges(conformance_dir: Path) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(where, document, variables, cost) for every recorded exchange with a document."""

    def walk(
        node: Any, where: str, inherited: str | None
    ) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
        if isinstance(node, dict):
            doc = node.get("query") if isinstance(node.get("query"), str) else node.get("document")
            if not (
                isinstance(doc, str)
                and doc.lstrip().startswith(("query", "mutation", "{", "#graphql", "fragment"))
            ):
                doc = None
            resp = node.get("response")
            if isinstance(resp, dict):
                body = resp.get("body") or resp.get("payload") or resp
                cost = (
                    (body.get("extensions") or {}).get("cost") if isinstance(body, dict) else None
                )
                used = doc or inherited
                if used and cost and cost.get("requestedQueryCost") is not None:
                    variables = node.get("variables") or node.get("requestVariables") or {}
                    yield where, used, variables, cost
            for k, v in node.items():
                if k == "response":
                    continue
                passed = doc if doc else (inherited if k in _INHERIT or inherited else None)
                yield from walk(v, f"{where}/{k}", passed if not doc else None)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{where}/{i}", inherited)

    for path in sorted(conformance_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        top = data.get("document") if isinstance(data.get("document"), str) else None
        for k, v in data.items():
            yield from walk(v, f"{path.name}/{k}", top if k in _INHERIT else None)


def _distinct(conformance_dir: Path) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in _exchanges(conformance_dir):
        key = (ex[1], json.dumps(ex[2], sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def test_cost_rules_reproduce_every_recorded_requested_cost(
    conformance_dir: Path, real_schema: GraphQLSchema
) -> None:
    exchanges = _distinct(conformance_dir)
    assert len(exchanges) >= 100
    wrong = []
    for where, doc, variables, cost in exchanges:
        got = requested_cost(real_schema, parse(doc), variables)
        if got != cost["requestedQueryCost"]:
            wrong.append(f"{where}: {got} != {cost['requestedQueryCost']}")
    assert wrong == []


def test_twin_requested_cost_equals_shopify_for_every_supported_recorded_query(
    conformance_dir: Path,
) -> None:
    schema = build_twin_schema(resolvers=False)
    checked = 0
    wrong = []
    for where, doc, variables, cost in _distinct(conformance_dir):
        parsed = parse(doc)
        if validate(schema, parsed):
            continue  # outside the twin's subset (fulfillments, order edits, refunds...)
        checked += 1
        got = requested_cost(schema, parsed, variables)
        if got != cost["requestedQueryCost"]:
            wrong.append(f"{where}: {got} != {cost['requestedQueryCost']}")
    # No deliberate exceptions: every recorded document the twin can run costs what Shopify said.
    assert wrong == []
    assert checked >= 80


@pytest.mark.parametrize(
    ("n", "m"), [(0, 0), (1, 1), (2, 1), (3, 2), (5, 3), (10, 4), (50, 7), (100, 9), (250, 11)]
)
def test_page_multiplier(n: int, m: int) -> None:
    assert page_multiplier(n) == m


def test_cost_rules_on_small_documents() -> None:
    schema = build_twin_schema(resolvers=False)

    def c(doc: str, variables: dict[str, Any] | None = None) -> int:
        return requested_cost(schema, parse(doc), variables)

    assert c("{ shop { name } }") == 1
    assert c("{ shop { name primaryDomain { host } } }") == 2
    # connection: 2 + m(first) * (node 1 + its objects)
    assert c("{ products(first: 10) { nodes { id title } } }") == 2 + 4 * 1
    assert (
        c("{ products(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } }") == 6
    )
    assert c("query($n: Int!) { products(first: $n) { nodes { id } } }", {"n": 250}) == 2 + 11
    nested = (
        "{ products(first: 250) { nodes { id "
        "variants(first: 100) { nodes { id inventoryItem { id } } } } } }"
    )
    assert c(nested) == 2 + 11 * (1 + 2 + 9 * 2)
    # money and the inventory item's measurement are free; lists of objects cost 1
    assert (
        c(
            '{ productVariant(id: "x") { price '
            "inventoryItem { measurement { weight { value } } } selectedOptions { name } } }"
        )
        == 3
    )
    # mutations: 10 plus what is below the payload's own fields
    assert (
        c('mutation { tagsAdd(id: "x", tags: ["a"]) { node { id } userErrors { field } } }') == 10
    )
    assert (
        c('mutation { productCreate(product: {title: "t"}) { product { seo { title } } } }') == 11
    )


def test_actual_cost_counts_what_came_back() -> None:
    twin = ShopifyTwin()
    twin.add_shop("s", token="t")
    for i in range(3):
        twin.create_product("s", title=f"P{i}", variants=[{"sku": f"S{i}"}])
    doc = "{ products(first: 50) { nodes { id variants(first: 10) { nodes { id } } } } }"
    data = twin.execute("s", doc)["data"]
    schema = twin.schema
    assert requested_cost(schema, parse(doc)) == 2 + 7 * (1 + 2 + 4)
    # three products with one variant each: 2 + 3 * (1 + 2 + 1)
    assert actual_cost(schema, parse(doc), data) == 14
