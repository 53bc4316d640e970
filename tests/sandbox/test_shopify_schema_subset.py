"""The twin's schema is a subset of Shopify's real Admin 2026-07 schema.

Every named type of the twin (its own SDL and the order part's, built by the same function the
app uses) must exist in the real schema with the same kind; every field, argument, input field,
enum value, interface and union member must exist there with the same type.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    parse,
    validate,
)

from rackshop.sandbox.shopify.app import build_twin_schema


def _real_name(twin: GraphQLSchema, real: GraphQLSchema, name: str) -> str:
    """Root types may be named differently (the twin's ``Query`` is Shopify's ``QueryRoot``)."""
    if twin.query_type is not None and name == twin.query_type.name and real.query_type:
        return real.query_type.name
    if twin.mutation_type is not None and name == twin.mutation_type.name and real.mutation_type:
        return real.mutation_type.name
    return name


def _type_str(twin: GraphQLSchema, real: GraphQLSchema, t: Any) -> str:
    return re.sub(r"\w+", lambda m: _real_name(twin, real, m.group(0)), str(t))


def _default(arg: Any) -> Any:
    node = getattr(arg, "ast_node", None)
    if node is None or getattr(node, "default_value", None) is None:
        return None
    from graphql import print_ast

    return print_ast(node.default_value)


def subset_problems(twin: GraphQLSchema, real: GraphQLSchema) -> list[str]:
    problems: list[str] = []
    for name, t in twin.type_map.items():
        if name.startswith("__"):
            continue
        rname = _real_name(twin, real, name)
        r = real.get_type(rname)
        if r is None:
            problems.append(f"type {name} does not exist in the real schema")
            continue
        if type(t) is not type(r):
            problems.append(f"type {name} is a {type(t).__name__}, real is {type(r).__name__}")
            continue
        if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)):
            assert isinstance(r, (GraphQLObjectType, GraphQLInterfaceType))
            real_ifaces = {i.name for i in r.interfaces}
            for i in t.interfaces:
                if i.name not in real_ifaces:
                    problems.append(f"{name} implements {i.name}, real does not")
            for fname, f in t.fields.items():
                rf = r.fields.get(fname)
                if rf is None:
                    problems.append(f"field {name}.{fname} does not exist in the real schema")
                    continue
                if _type_str(twin, real, f.type) != str(rf.type):
                    problems.append(f"field {name}.{fname}: {f.type} vs real {rf.type}")
                for aname, a in f.args.items():
                    ra = rf.args.get(aname)
                    if ra is None:
                        problems.append(f"argument {name}.{fname}({aname}) not in the real schema")
                        continue
                    if str(a.type) != str(ra.type):
                        problems.append(
                            f"argument {name}.{fname}({aname}): {a.type} vs real {ra.type}"
                        )
                    if _default(a) != _default(ra):
                        problems.append(
                            f"argument {name}.{fname}({aname}) default {_default(a)} "
                            f"vs real {_default(ra)}"
                        )
                for aname, ra in rf.args.items():
                    if str(ra.type).endswith("!") and _default(ra) is None and aname not in f.args:
                        problems.append(
                            f"required argument {name}.{fname}({aname}) missing in the twin"
                        )
        elif isinstance(t, GraphQLInputObjectType):
            assert isinstance(r, GraphQLInputObjectType)
            for fname, f in t.fields.items():
                rf = r.fields.get(fname)
                if rf is None:
                    problems.append(f"input field {name}.{fname} does not exist in the real schema")
                elif str(f.type) != str(rf.type):
                    problems.append(f"input field {name}.{fname}: {f.type} vs real {rf.type}")
            for fname, rf in r.fields.items():
                if str(rf.type).endswith("!") and _default(rf) is None and fname not in t.fields:
                    problems.append(f"required input field {name}.{fname} missing in the twin")
        elif isinstance(t, GraphQLEnumType):
            assert isinstance(r, GraphQLEnumType)
            for v in t.values:
                if v not in r.values:
                    problems.append(f"enum value {name}.{v} does not exist in the real schema")
        elif isinstance(t, GraphQLUnionType):
            assert isinstance(r, GraphQLUnionType)
            members = {m.name for m in r.types}
            for m in t.types:
                if m.name not in members:
                    problems.append(f"union {name} member {m.name} not in the real schema")
        else:
            assert isinstance(t, GraphQLScalarType)
    for d in twin.directives:
        rd = real.get_directive(d.name)
        if rd is None:
            problems.append(f"directive @{d.name} does not exist in the real schema")
            continue
        if set(d.locations) != set(rd.locations):
            problems.append(f"directive @{d.name} locations {d.locations} vs {rd.locations}")
        for aname, a in d.args.items():
            ra = rd.args.get(aname)
            if ra is None or str(a.type) != str(ra.type):
                problems.append(f"directive @{d.name}({aname}) differs from the real schema")
    return problems


def test_twin_schema_is_a_subset_of_the_real_2026_07_schema(real_schema: GraphQLSchema) -> None:
    twin = build_twin_schema(resolvers=False)
    assert subset_problems(twin, real_schema) == []


def test_the_subset_check_catches_differences(real_schema: GraphQLSchema) -> None:
    from graphql import build_schema

    bad = build_schema(
        """
        type Query { shop: Shop! products(first: String): ProductConnection! }
        type Shop { name: String! madeUp: Int }
        type ProductConnection { pageInfo: PageInfo! }
        type PageInfo { hasNextPage: Boolean! }
        enum ProductStatus { ACTIVE NOT_A_STATUS }
        type Invented { x: Int }
        """
    )
    problems = subset_problems(bad, real_schema)
    assert "field Shop.madeUp does not exist in the real schema" in problems
    assert "argument Query.products(first): String vs real Int" in problems
    assert "enum value ProductStatus.NOT_A_STATUS does not exist in the real schema" in problems
    assert "type Invented does not exist in the real schema" in problems


def test_idempotent_directive_is_declared_as_in_the_real_schema(real_schema: GraphQLSchema) -> None:
    twin = build_twin_schema(resolvers=False)
    d = twin.get_directive("idempotent")
    r = real_schema.get_directive("idempotent")
    assert d is not None and r is not None
    assert (
        [str(a.type) for a in d.args.values()]
        == [str(a.type) for a in r.args.values()]
        == ["String!"]
    )
    assert [loc.name for loc in d.locations] == [loc.name for loc in r.locations] == ["FIELD"]


def test_documents_valid_on_the_twin_are_valid_on_the_real_schema(
    real_schema: GraphQLSchema,
) -> None:
    doc = parse(
        """
        mutation SetStock($input: InventorySetQuantitiesInput!, $key: String!) {
          inventorySetQuantities(input: $input) @idempotent(key: $key) {
            inventoryAdjustmentGroup {
              id reason changes { name delta item { id } location { id } } }
            userErrors { field message code }
          }
        }
        """
    )
    twin = build_twin_schema(resolvers=False)
    assert validate(twin, doc) == []
    assert validate(real_schema, doc) == []
