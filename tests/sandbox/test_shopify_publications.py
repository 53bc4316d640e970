"""The Shopify twin models publications as Shopify does: a product's status says whether it can
be sold, its publications where; a product made through the API is on no channel until
publishablePublish, whatever its status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rackshop.sandbox.shopify import ShopifyTwin

PUBS = "{ publications(first: 10) { nodes { id name } } }"
ON = """query($id: ID!, $p: ID!) { product(id: $id) { status publishedAt
  publishedOnPublication(publicationId: $p) } }"""
CREATE = """mutation($i: ProductSetInput!) { productSet(input: $i, synchronous: true) {
  product { id } userErrors { message } } }"""
PUBLISH = """mutation($id: ID!, $in: [PublicationInput!]!) { publishablePublish(id: $id, input: $in)
  { publishable { ... on Product { id } } userErrors { field message } } }"""


@pytest.fixture
def twin() -> Iterator[ShopifyTwin]:
    t = ShopifyTwin()
    t.add_shop("dk", token="shpat_test")
    yield t


def gql(twin: ShopifyTwin, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = twin.execute("dk", query, variables)
    assert not body.get("errors"), body
    return body["data"]


def pubs(twin: ShopifyTwin) -> dict[str, str]:
    return {p["name"]: p["id"] for p in gql(twin, PUBS)["publications"]["nodes"]}


def on(twin: ShopifyTwin, product: str, pub: str) -> dict[str, Any]:
    out: dict[str, Any] = gql(twin, ON, {"id": product, "p": pub})["product"]
    return out


def test_an_active_product_made_through_the_api_is_on_no_channel(twin: ShopifyTwin) -> None:
    names = pubs(twin)
    assert set(names) == {"Online Store", "Point of Sale"}
    made = gql(twin, CREATE, {"i": {"title": "Ny", "status": "ACTIVE",
                                    "productOptions": [{"name": "Title",
                                                        "values": [{"name": "Default Title"}]}],
                                    "variants": [{"optionValues": [{"optionName": "Title",
                                                                    "name": "Default Title"}],
                                                  "price": "10.00"}]}})
    pid = made["productSet"]["product"]["id"]
    state = on(twin, pid, names["Online Store"])
    assert (state["status"], state["publishedAt"], state["publishedOnPublication"]) == (
        "ACTIVE", None, False)
    done = gql(twin, PUBLISH, {"id": pid, "in": [{"publicationId": names["Online Store"]}]})
    assert done["publishablePublish"]["userErrors"] == []
    state = on(twin, pid, names["Online Store"])
    assert state["publishedOnPublication"] is True and state["publishedAt"]
    assert on(twin, pid, names["Point of Sale"])["publishedOnPublication"] is False
    # Publishing again changes nothing; an unknown publication is a userError.
    gql(twin, PUBLISH, {"id": pid, "in": [{"publicationId": names["Online Store"]}]})
    bad = gql(twin, PUBLISH, {"id": pid, "in": [{"publicationId": "gid://shopify/Publication/9"}]})
    assert bad["publishablePublish"]["userErrors"][0]["field"] == ["input", "0", "publicationId"]


def test_a_product_made_in_the_admin_is_on_the_online_store(twin: ShopifyTwin) -> None:
    pid = twin.create_product("dk", title="Admin", variants=[{"sku": "A-1", "price": "1.00"}])
    names = pubs(twin)
    assert on(twin, pid, names["Online Store"])["publishedOnPublication"] is True
    assert on(twin, pid, names["Point of Sale"])["publishedOnPublication"] is False
