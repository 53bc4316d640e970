"""Product categories (``Product.category``, ``category`` on product inputs, ``node(id:)``).

Shopify's Standard Product Taxonomy has thousands of categories; the twin knows the ones the
recordings use (product-set-parity: ``aa-1-1`` "Activewear" under "Apparel & Accessories >
Clothing", answered by ``node(id:)`` with ``isLeaf: false``, ``level: 3``). A product given a
category the twin does not know keeps the id and answers ``category: null``
(docs/sandbox-shopify.md; the public taxonomy at github.com/Shopify/product-taxonomy has the
rest).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

PREFIX = "gid://shopify/TaxonomyCategory/"

#: handle -> name, for the categories the twin knows (the parent of ``a-b-c`` is ``a-b``)
NAMES = {
    "aa": "Apparel & Accessories",
    "aa-1": "Clothing",
    "aa-1-1": "Activewear",
}
#: recorded: Activewear is not a leaf (it has sub-categories the twin does not list)
NOT_LEAVES = frozenset({"aa", "aa-1", "aa-1-1"})


def category(gid: str | None) -> dict[str, Any] | None:
    """A category record by gid (``None`` if the twin does not know it)."""
    if not gid or not gid.startswith(PREFIX):
        return None
    handle = gid[len(PREFIX) :]
    if handle not in NAMES:
        return None
    parts = handle.split("-")
    chain = ["-".join(parts[: i + 1]) for i in range(len(parts))]
    children = sorted(h for h in NAMES if h.rsplit("-", 1)[0] == handle and h != handle)
    return {
        "__typename": "TaxonomyCategory",
        "id": gid,
        "name": NAMES[handle],
        "fullName": " > ".join(NAMES.get(h, h) for h in chain),
        "isLeaf": handle not in NOT_LEAVES,
        "isRoot": len(parts) == 1,
        "level": len(parts),
        "parentId": PREFIX + chain[-2] if len(chain) > 1 else None,
        "ancestorIds": [PREFIX + h for h in reversed(chain[:-1])],
        "childrenIds": [PREFIX + h for h in children],
        "isArchived": False,
    }


def _p_category(p: dict[str, Any], _: GraphQLResolveInfo) -> dict[str, Any] | None:
    return category(p.get("category"))


def register(schema: GraphQLSchema) -> None:
    """Attach ``Product.category`` (``schema_taxonomy.graphql``)."""
    product = schema.get_type("Product")
    product.fields["category"].resolve = _p_category  # type: ignore[union-attr]
