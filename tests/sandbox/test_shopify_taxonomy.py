"""Product categories on the Shopify twin (recorded: product-set-parity)."""

from __future__ import annotations

from tests.sandbox.test_shopify_support import run, twin_with

SET = """mutation($input: ProductSetInput!) { productSet(input: $input, synchronous: true) {
  product { id category { id fullName } } userErrors { message } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on TaxonomyCategory { name fullName isLeaf level parentId } } }"""
ACTIVEWEAR = "gid://shopify/TaxonomyCategory/aa-1-1"


def test_a_category_is_set_read_and_cleared() -> None:
    twin = twin_with()
    got = run(twin, SET, {"input": {"title": "Tee", "category": ACTIVEWEAR}})["data"]["productSet"]
    assert got["userErrors"] == []
    assert got["product"]["category"] == {
        "id": ACTIVEWEAR,
        "fullName": "Apparel & Accessories > Clothing > Activewear",
    }
    node = run(twin, NODE, {"id": ACTIVEWEAR})["data"]["node"]
    assert node == {
        "__typename": "TaxonomyCategory",
        "id": ACTIVEWEAR,
        "name": "Activewear",
        "fullName": "Apparel & Accessories > Clothing > Activewear",
        "isLeaf": False,
        "level": 3,
        "parentId": "gid://shopify/TaxonomyCategory/aa-1",
    }
    pid = got["product"]["id"]
    cleared = run(twin, SET, {"input": {"id": pid, "title": "Tee", "category": None}})
    assert cleared["data"]["productSet"]["product"]["category"] is None
