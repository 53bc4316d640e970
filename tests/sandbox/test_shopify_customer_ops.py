"""customerCreate and customerDelete on the Shopify twin (the recorded answers are replayed by
test_shopify_replay.py)."""

from __future__ import annotations

from tests.sandbox.test_shopify_support import SHOP, run, twin_with

CREATE = """mutation($input: CustomerInput!) { customerCreate(input: $input) {
  customer { id email firstName } userErrors { field message } } }"""
DELETE = """mutation($input: CustomerDeleteInput!) { customerDelete(input: $input) {
  deletedCustomerId shop { name } userErrors { field message } } }"""
READ = "query($id: ID!) { customer(id: $id) { email lastName } }"


def test_create_read_delete_and_refusals() -> None:
    twin = twin_with()
    made = run(
        twin,
        CREATE,
        {"input": {"email": "kim@example.com", "firstName": "Kim", "lastName": "Berg"}},
    )["data"]["customerCreate"]
    assert made["userErrors"] == []
    gid = made["customer"]["id"]
    assert run(twin, READ, {"id": gid})["data"]["customer"] == {
        "email": "kim@example.com",
        "lastName": "Berg",
    }
    taken = run(twin, CREATE, {"input": {"email": "KIM@example.com"}})["data"]["customerCreate"]
    assert taken["customer"] is None and taken["userErrors"][0]["field"] == ["email"]
    empty = run(twin, CREATE, {"input": {"note": "nobody"}})["data"]["customerCreate"]
    assert empty["customer"] is None and len(empty["userErrors"]) == 1
    gone = run(twin, DELETE, {"input": {"id": gid}})["data"]["customerDelete"]
    assert gone == {"deletedCustomerId": gid, "shop": {"name": SHOP}, "userErrors": []}
    assert run(twin, READ, {"id": gid})["data"]["customer"] is None
    again = run(twin, DELETE, {"input": {"id": gid}})["data"]["customerDelete"]
    assert again["deletedCustomerId"] is None and again["userErrors"][0]["field"] == ["id"]
