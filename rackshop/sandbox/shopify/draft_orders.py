"""``draftOrders``: an empty connection (the twin makes no draft orders), so that bulk queries on
draft orders are accepted and run as Shopify runs them (bulk-operation-run-query-schema-roots)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from .catalog import ctx_of, paged, run_search


def _r_draft_orders(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    records: list[dict[str, Any]] = list(getattr(ctx_of(info).shop, "draft_orders", {}).values())
    records = run_search(info, args.get("query"), records, {})
    return paged(info, records, args, lambda d: d["id"])


def register(schema: GraphQLSchema) -> None:
    """Attach the resolver (``schema_draft_orders.graphql``)."""
    q = schema.query_type
    assert q is not None
    q.fields["draftOrders"].resolve = _r_draft_orders
