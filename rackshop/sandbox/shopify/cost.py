"""Static query cost ("requested") and the cost of what was really returned ("actual").

The model follows Shopify's documented rules (scalars and enums 0, objects 1, interfaces and
unions the maximum over their possible selections, connections sized by ``first``/``last``,
mutations 10) with the refinements that Shopify's real ``requestedQueryCost`` values show. Every
refinement below was fitted against the recorded exchanges in
``shared/shopify/conformance/`` (see ``tests/sandbox/test_shopify_cost.py``):

* A connection costs ``2 + m(n) * (cost of one node)``, where ``n`` is ``first`` or ``last`` and the
  page multiplier ``m(n) = max(1, floor(2 * ln n))`` (1 for 1 or 2, 4 for 10, 9 for 100, 11 for
  250). Shopify's old documentation said ``m(n) = n``; its real answers no longer do (a query
  with ``variants(first: 250)`` is recorded at 330, not tens of thousands).
* One node costs 1 plus its selection; ``edges { node }`` and ``nodes`` cost the same.
* A list of objects that is not a connection costs 1 plus one element's selection (not
  multiplied by its length).
* ``pageInfo``, money (``MoneyBag``, ``MoneyV2``) and the inventory item's ``measurement``
  (``InventoryItemMeasurement``, ``Weight``) are free.
* A mutation costs 10 plus its payload's selection, where the payload's own direct children are
  free (``productCreate { product { id } }`` is 10) but anything below them is counted.
* Some fields carry their own cost (e.g. ``ordersCount`` 10): see :data:`FIELD_COSTS`.

The actual cost is computed the same way over the response: connections count the nodes really
returned, objects that came back ``null`` cost nothing below them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    is_leaf_type,
    value_from_ast_untyped,
)

MUTATION_COST = 10
"""Default cost of a mutation field."""

FREE_TYPES: set[str] = {
    "PageInfo",
    "MoneyBag",
    "MoneyV2",
    "InventoryItemMeasurement",
    "Weight",
}
"""Object types that cost nothing themselves (their fields still count)."""

FIELD_COSTS: dict[str, int] = {
    "Query.ordersCount": 10,
    "Query.productsCount": 10,
    "Query.productVariantsCount": 10,
    "Query.locationsCount": 10,
    "Mutation.fulfillmentTrackingInfoUpdate": 50,
    "Mutation.fulfillmentTrackingInfoUpdateV2": 50,
    "Mutation.refundCreate": 20,
}
"""Fields with their own cost, ``"Type.field" -> points`` (replaces the default 1 or 10).

Other modules (the order part of the twin) may add to it at import time.
"""

MAX_QUERY_COST = 1000
"""Shopify refuses a query whose requested cost exceeds this, before running it."""

def selected_fields(sel: Any, fragments: Mapping[str, FragmentDefinitionNode]
                    ) -> Iterator[FieldNode]:
    """The fields a selection set names, inline fragments and spreads flattened whatever their
    type condition (``None`` selects nothing)."""
    if sel is None:
        return
    for s in sel.selections:
        if isinstance(s, FieldNode):
            yield s
        elif isinstance(s, InlineFragmentNode):
            yield from selected_fields(s.selection_set, fragments)
        elif isinstance(s, FragmentSpreadNode) and s.name.value in fragments:
            yield from selected_fields(fragments[s.name.value].selection_set, fragments)



def page_multiplier(n: int) -> int:
    """How many nodes a page of ``n`` counts for (Shopify's sub-linear connection sizing)."""
    if n <= 0:
        return 0
    return max(1, math.floor(2 * math.log(n)))


def _unwrap(t: Any) -> tuple[Any, bool]:
    """The type without non-null wrappers, and whether it is a list."""
    is_list = False
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        if isinstance(t, GraphQLList):
            is_list = True
        t = t.of_type
    return t, is_list


def is_connection_type(t: GraphQLNamedType) -> bool:
    """A Relay connection: an object type named ``...Connection`` with ``pageInfo``."""
    return (
        isinstance(t, GraphQLObjectType)
        and t.name.endswith("Connection")
        and ("pageInfo" in t.fields or "edges" in t.fields)
    )


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    # -- helpers -------------------------------------------------------------------------------

    def key(self, parent: GraphQLObjectType, name: str) -> str:
        """``Type.field``, with the root types called ``Query`` and ``Mutation`` whatever their
        names (Shopify's query root is ``QueryRoot``)."""
        if parent is self.schema.query_type:
            return f"Query.{name}"
        if parent is self.schema.mutation_type:
            return f"Mutation.{name}"
        return f"{parent.name}.{name}"

    def arg(self, node: FieldNode, name: str) -> Any:
        for a in node.arguments or ():
            if a.name.value == name:
                return value_from_ast_untyped(a.value, dict(self.variables))
        return None

    def applies(self, condition: str | None, t: GraphQLObjectType) -> bool:
        if condition is None or condition == t.name:
            return True
        cond = self.schema.get_type(condition)
        if isinstance(cond, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.schema.is_sub_type(cond, t)
        return False

    def fields_of(self, t: GraphQLObjectType, sel: SelectionSetNode) -> list[FieldNode]:
        """The fields a selection set asks of object type ``t`` (fragments flattened)."""
        out: list[FieldNode] = []
        for s in sel.selections:
            if isinstance(s, FieldNode):
                out.append(s)
            elif isinstance(s, InlineFragmentNode):
                cond = s.type_condition.name.value if s.type_condition else None
                if self.applies(cond, t):
                    out.extend(self.fields_of(t, s.selection_set))
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag and self.applies(frag.type_condition.name.value, t):
                    out.extend(self.fields_of(t, frag.selection_set))
        return out

    def possible(self, t: GraphQLNamedType) -> list[GraphQLObjectType]:
        if isinstance(t, GraphQLObjectType):
            return [t]
        if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)):
            return list(self.schema.get_possible_types(t))
        return []

    # -- requested cost ------------------------------------------------------------------------

    def selection(
        self, t: GraphQLNamedType, sel: SelectionSetNode | None, free: bool = False
    ) -> int:
        """Cost of a selection on ``t`` (max over possible types when abstract)."""
        if sel is None:
            return 0
        best = 0
        for obj in self.possible(t) or []:
            total = sum(self.field(obj, f, free) for f in self.fields_of(obj, sel))
            best = max(best, total)
        return best

    def field(self, parent: GraphQLObjectType, node: FieldNode, free: bool = False) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        fdef: GraphQLField | None = parent.fields.get(name)
        if fdef is None:
            return 0
        named, _ = _unwrap(fdef.type)
        key = self.key(parent, name)
        if is_leaf_type(named):
            return FIELD_COSTS.get(key, 0)
        own = 0 if (free or named.name in FREE_TYPES) else 1
        own = FIELD_COSTS.get(key, own)
        if is_connection_type(named):
            n = self.arg(node, "first")
            if n is None:
                n = self.arg(node, "last")
            conn = FIELD_COSTS.get(key, 2)
            return conn + page_multiplier(int(n or 0)) * self.node_cost(named, node.selection_set)
        return own + self.selection(named, node.selection_set)

    def node_cost(self, conn: GraphQLObjectType, sel: SelectionSetNode | None) -> int:
        """Cost of one node of a connection, from its ``edges { node }`` and/or ``nodes``."""
        if sel is None:
            return 0
        total = 0
        for f in self.fields_of(conn, sel):
            if f.name.value == "nodes":
                fdef = conn.fields["nodes"]
                named, _ = _unwrap(fdef.type)
                total += 1 + self.selection(named, f.selection_set)
            elif f.name.value == "edges":
                edge, _ = _unwrap(conn.fields["edges"].type)
                total += self.selection(edge, f.selection_set)
            else:
                total += self.field(conn, f)
        return total

    def mutation(self, root: GraphQLObjectType, f: FieldNode
                 ) -> tuple[int, GraphQLNamedType] | None:
        """A mutation's base cost and its payload type (whose fields are then free); ``None``
        for a field the schema does not have."""
        fdef = root.fields.get(f.name.value)
        if fdef is None:
            return None
        payload, _ = _unwrap(fdef.type)
        return FIELD_COSTS.get(self.key(root, f.name.value), MUTATION_COST), payload

    def operation(self, op: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(op.operation)
        if root is None:
            return 0
        total = 0
        for f in self.fields_of(root, op.selection_set):
            if op.operation.value == "mutation":
                if (mutation := self.mutation(root, f)) is not None:
                    base, payload = mutation
                    total += base + self.selection(payload, f.selection_set, free=True)
            else:
                total += self.field(root, f)
        return total

    # -- actual cost ---------------------------------------------------------------------------

    def actual_selection(
        self, t: GraphQLNamedType, sel: SelectionSetNode | None, data: Any, free: bool = False
    ) -> int:
        if sel is None or not isinstance(data, dict):
            return 0
        objs = self.possible(t)
        if len(objs) > 1:
            typename = data.get("__typename")
            chosen = [o for o in objs if o.name == typename]
            if chosen:
                objs = chosen
        best = 0
        for obj in objs:
            total = 0
            for f in self.fields_of(obj, sel):
                key = f.alias.value if f.alias else f.name.value
                total += self.actual_field(obj, f, data.get(key), free)
            best = max(best, total)
        return best

    def actual_field(
        self, parent: GraphQLObjectType, node: FieldNode, value: Any, free: bool
    ) -> int:
        name = node.name.value
        fdef = parent.fields.get(name)
        if fdef is None or name.startswith("__"):
            return 0
        named, _ = _unwrap(fdef.type)
        key = self.key(parent, name)
        if is_leaf_type(named):
            return FIELD_COSTS.get(key, 0)
        if value is None:
            return 0
        own = 0 if (free or named.name in FREE_TYPES) else 1
        own = FIELD_COSTS.get(key, own)
        if is_connection_type(named) and isinstance(value, dict):
            conn = FIELD_COSTS.get(key, 2)
            returned = 0
            per_node: list[int] = []
            for f in self.fields_of(named, node.selection_set or SelectionSetNode(selections=())):
                k = f.alias.value if f.alias else f.name.value
                items = value.get(k)
                if f.name.value == "nodes" and isinstance(items, list):
                    nt, _ = _unwrap(named.fields["nodes"].type)
                    returned = max(returned, len(items))
                    per_node.extend(
                        1 + self.actual_selection(nt, f.selection_set, i) for i in items
                    )
                elif f.name.value == "edges" and isinstance(items, list):
                    et, _ = _unwrap(named.fields["edges"].type)
                    returned = max(returned, len(items))
                    per_node.extend(self.actual_selection(et, f.selection_set, i) for i in items)
            return conn + sum(per_node)
        if isinstance(value, list):
            return own + max(
                (self.actual_selection(named, node.selection_set, v) for v in value), default=0
            )
        return own + self.actual_selection(named, node.selection_set, value)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def select_operation(
    document: DocumentNode, operation_name: str | None = None
) -> OperationDefinitionNode | None:
    """The operation a request runs (``operationName`` or the only one)."""
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        for op in ops:
            if op.name and op.name.value == operation_name:
                return op
        return None
    return ops[0] if len(ops) == 1 else None


def _variables_with_defaults(
    op: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    out = dict(variables or {})
    for vd in op.variable_definitions or ():
        name = vd.variable.name.value
        if name not in out and vd.default_value is not None:
            out[name] = value_from_ast_untyped(vd.default_value)
    return out


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The static cost Shopify would reserve for a document before running it.

    Args:
        schema: The schema the document is valid against.
        document: The parsed document.
        variables: The request's variables (page sizes may come from them).
        operation_name: Which operation, if the document holds several.

    Returns:
        Points, as in ``extensions.cost.requestedQueryCost``.
    """
    op = select_operation(document, operation_name)
    if op is None:
        return 0
    walker = _Walker(schema, _fragments(document), _variables_with_defaults(op, variables))
    return walker.operation(op)


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    data: Mapping[str, Any] | None,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The cost of what a response really returned (``actualQueryCost``).

    Connections count the nodes that came back (one per node, not the sub-linear page
    multiplier), ``null`` objects cost nothing below them, and a mutation always costs its
    base. Never more than the requested cost.
    """
    op = select_operation(document, operation_name)
    if op is None:
        return 0
    walker = _Walker(schema, _fragments(document), _variables_with_defaults(op, variables))
    root = schema.get_root_type(op.operation)
    if root is None:
        return 0
    data = data or {}
    total = 0
    for f in walker.fields_of(root, op.selection_set):
        key = f.alias.value if f.alias else f.name.value
        if op.operation.value == "mutation":
            if (mutation := walker.mutation(root, f)) is not None:
                base, payload = mutation
                total += base + walker.actual_selection(payload, f.selection_set, data.get(key),
                                                        True)
        else:
            total += walker.actual_field(root, f, data.get(key), False)
    return min(total, walker.operation(op))
