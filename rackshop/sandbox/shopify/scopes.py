"""Access scopes enforced the way Shopify enforces them (issue 16's missing-scopes variant).

A shop whose scopes a test or ``rackshop sandbox serve`` narrowed (``POST /__sandbox/scopes``,
:mod:`.contract_admin`) refuses every root field that needs a scope it was not granted, as
Shopify does: the field answers ``null`` and ``errors`` carries, per refused field::

    {"message": "Access denied for orders field. Required access: `read_orders` access scope.",
     "locations": [...], "path": ["orders"],
     "extensions": {"code": "ACCESS_DENIED", "requiredAccess": "`read_orders` access scope.",
                    "documentation": "https://shopify.dev/api/usage/access-scopes"}}

(the message and extension shape as Shopify answers them in public issue threads, e.g.
Shopify/function-examples#164 and Shopify/shopify-api-js#271). A bulk query whose inner query
needs a missing scope ends ``FAILED`` with ``errorCode: ACCESS_DENIED`` (a documented value of
``BulkOperationErrorCode``).

The twin's simplification: it checks root fields only, and when any root field of a request is
refused it answers ``null`` for every root field of that request (rackshop's documents have one
root field, or ``shop`` beside ``locations``). Fields whose scope depends on the object they
touch (``nodes``, ``node``, ``tagsAdd``, ``metafieldsSet``) and fields every app may read
(``shop``, ``currentAppInstallation``, bulk operations, webhook subscriptions) are not checked.
A shop with the full set of scopes is never checked at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
)

from .cost import selected_fields

DOCUMENTATION = "https://shopify.dev/api/usage/access-scopes"

_READ = {
    "read_orders": ("order", "orders", "ordersCount", "draftOrder", "draftOrders",
                    "draftOrdersCount", "refund", "return"),
    "read_products": ("product", "products", "productsCount", "productVariant",
                      "productVariants", "productVariantsCount", "productByIdentifier",
                      "productByHandle", "collection", "collections"),
    "read_inventory": ("inventoryItem", "inventoryItems", "inventoryLevel"),
    "read_locations": ("location", "locations", "locationsCount"),
    "read_customers": ("customer", "customers", "customersCount", "customerByIdentifier"),
    "read_publications": ("publication", "publications"),
    "read_merchant_managed_fulfillment_orders": ("fulfillmentOrder", "fulfillmentOrders"),
}
_WRITE = {
    "write_orders": ("orderUpdate", "orderMarkAsPaid", "orderCancel", "orderClose",
                     "orderOpen", "orderEditBegin", "orderEditSetQuantity",
                     "orderEditAddVariant", "orderEditCommit", "refundCreate",
                     "draftOrderCreate", "draftOrderComplete"),
    "write_products": ("productSet", "productCreate", "productUpdate", "productDelete",
                       "productVariantsBulkCreate", "productVariantsBulkUpdate",
                       "productVariantsBulkDelete"),
    "write_inventory": ("inventorySetQuantities", "inventoryAdjustQuantities",
                        "inventoryActivate", "inventoryDeactivate", "inventoryItemUpdate",
                        "inventorySetOnHandQuantities", "inventoryMoveQuantities"),
    "write_locations": ("locationAdd", "locationEdit", "locationActivate",
                        "locationDeactivate"),
    "write_customers": ("customerCreate", "customerUpdate"),
    "write_publications": ("publishablePublish", "publishableUnpublish"),
    "write_merchant_managed_fulfillment_orders": ("fulfillmentCreate",
                                                  "fulfillmentCreateV2",
                                                  "fulfillmentTrackingInfoUpdate",
                                                  "fulfillmentTrackingInfoUpdateV2"),
}

#: Root field -> the scope Shopify requires for it.
REQUIRED: dict[str, str] = {field: scope for table in (_READ, _WRITE)
                            for scope, fields in table.items() for field in fields}


def granted(scopes: Iterable[str], needed: str) -> bool:
    """Whether ``scopes`` cover ``needed`` (``write_x`` implies ``read_x``, as Shopify grants)."""
    have = set(scopes)
    if needed in have:
        return True
    return needed.startswith("read_") and f"write_{needed[len('read_'):]}" in have


def refused(scopes: Iterable[str], doc: DocumentNode,
            op: OperationDefinitionNode) -> list[tuple[FieldNode, str]]:
    """The root fields of ``op`` that ``scopes`` do not cover, each with the scope it needs."""
    have = tuple(scopes)
    fragments = {d.name.value: d for d in doc.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    out = []
    for node in selected_fields(op.selection_set, fragments):
        needed = REQUIRED.get(node.name.value)
        if needed is not None and not granted(have, needed):
            out.append((node, needed))
    return out


def denied_answer(doc: DocumentNode, op: OperationDefinitionNode,
                  refusals: list[tuple[FieldNode, str]]) -> dict[str, Any]:
    """The body Shopify answers when root fields are refused (see the module docstring)."""
    fragments = {d.name.value: d for d in doc.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    data = {(f.alias or f.name).value: None for f in selected_fields(op.selection_set, fragments)}
    errors = []
    for node, scope in refusals:
        key = (node.alias or node.name).value
        required = f"`{scope}` access scope."
        error: dict[str, Any] = {
            "message": f"Access denied for {node.name.value} field. Required access: "
                       f"{required}",
            "path": [key],
            "extensions": {"code": "ACCESS_DENIED", "documentation": DOCUMENTATION,
                           "requiredAccess": required}}
        if node.loc is not None:
            error["locations"] = [{"line": node.loc.start_token.line,
                                   "column": node.loc.start_token.column}]
        errors.append(error)
    return {"errors": errors, "data": data}
