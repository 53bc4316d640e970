"""The Shopify twin's core: HTTP and auth, cost and the leaky bucket, errors in Shopify's shapes,
pagination, search filters, timestamps, idempotency, tags and metafields, fault labels."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rackshop.sandbox.base import Clock, FaultPlan, FaultRule, Request, TwinServer
from rackshop.sandbox.shopify import ShopifyTwin
from tests.helpers.fakes import FakeClock

TOKEN = "shpat_core"


class Wall:
    """A settable wall clock for timestamps."""

    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_twin(fake: FakeClock | None = None, wall: Wall | None = None, **shop: Any) -> ShopifyTwin:
    twin = ShopifyTwin(Clock(monotonic=fake) if fake else None, wall=wall or Wall())
    twin.add_shop("dk", token=TOKEN, locations=("Main warehouse", "Store"), **shop)
    twin.webhooks.background = False
    return twin


def seed(twin: ShopifyTwin, n: int, shop: str = "dk", **extra: Any) -> list[str]:
    return [
        twin.create_product(
            shop,
            title=f"Item {i:02d}",
            tags=["even" if i % 2 == 0 else "odd"],
            product_type="Mugs" if i < n // 2 else "Plates",
            variants=[
                {
                    "sku": f"SKU-{i:02d}",
                    "barcode": f"57000{i:02d}",
                    "price": "10.00",
                    "stock": {"Main warehouse": i},
                }
            ],
            **extra,
        )
        for i in range(n)
    ]


@pytest.fixture
def server() -> Iterator[tuple[ShopifyTwin, TwinServer]]:
    twin = make_twin(client_id="cid", client_secret="csecret")
    twin.add_shop("se", token="shpat_se", currency="SEK", plan="plus")
    with TwinServer(twin) as srv:
        yield twin, srv
    twin.close()


def settle(srv: TwinServer, n: int) -> None:
    """Wait until the server has logged ``n`` requests (it logs just after answering)."""
    for _ in range(500):
        if srv.log.counters()["requests"] >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"the server logged {srv.log.counters()['requests']} of {n} requests")


def gql(srv: TwinServer, query: str, variables: dict[str, Any] | None = None, *, shop: str = "dk",
        token: str = TOKEN, version: str = "2026-07") -> requests.Response:  # fmt: skip
    return requests.post(
        f"{srv.url}/shops/{shop}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )


# -- HTTP, shops, auth -------------------------------------------------------------------------


def test_several_shops_over_real_http(server: tuple[ShopifyTwin, TwinServer]) -> None:
    twin, srv = server
    r = gql(
        srv,
        "{ shop { name currencyCode myshopifyDomain ianaTimezone taxesIncluded "
        "plan { shopifyPlus } } }",
    )
    assert r.status_code == 200
    body = r.json()
    assert body["data"]["shop"] == {
        "name": "dk",
        "currencyCode": "DKK",
        "myshopifyDomain": "dk.myshopify.com",
        "ianaTimezone": "Europe/Copenhagen",
        "taxesIncluded": True,
        "plan": {"shopifyPlus": False},
    }
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 2,
        "actualQueryCost": 2,
        "throttleStatus": {
            "maximumAvailable": 2000,
            "currentlyAvailable": 1998,
            "restoreRate": 100,
        },
    }
    se = gql(srv, "{ shop { currencyCode } }", shop="se", token="shpat_se").json()
    assert se["data"]["shop"]["currencyCode"] == "SEK"
    assert se["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 20000
    assert r.headers["X-Shopify-API-Version"] == "2026-07"
    gql(srv, "{ shop { name } }", version="2026-04")
    assert twin.shop("dk").api_versions == {"2026-04", "2026-07"}
    settle(srv, 3)
    assert srv.log.counters()["by_label"] == {"query shop": 3}


def test_auth_and_routing_errors(server: tuple[ShopifyTwin, TwinServer]) -> None:
    _, srv = server
    r = gql(srv, "{ shop { name } }", token="shpat_wrong")
    assert (r.status_code, r.json()) == (
        401,
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
    )
    assert (
        gql(srv, "{ shop { name } }", token="shpat_se").status_code == 401
    )  # another shop's token
    assert gql(srv, "{ shop { name } }", shop="nope").status_code == 404
    assert gql(srv, "{ shop { name } }", version="latest").status_code == 404
    r = requests.post(
        f"{srv.url}/shops/dk/admin/api/2026-07/graphql.json",
        data=b"{",
        headers={"X-Shopify-Access-Token": TOKEN},
        timeout=5,
    )
    assert (r.status_code, r.json()) == (
        400,
        {"errors": {"query": "Required parameter missing or invalid"}},
    )


def test_client_credentials_grant_and_expiry() -> None:
    fake = FakeClock()
    twin = make_twin(fake, client_id="cid", client_secret="csecret")
    with TwinServer(twin) as srv:
        url = f"{srv.url}/shops/dk/admin/oauth/access_token"
        bad = requests.post(
            url,
            data={"grant_type": "client_credentials", "client_id": "cid", "client_secret": "x"},
            timeout=5,
        )
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
        wrong_grant = requests.post(url, data={"grant_type": "password"}, timeout=5)
        assert wrong_grant.status_code == 400
        r = requests.post(
            url,
            data={
                "grant_type": "client_credentials",
                "client_id": "cid",
                "client_secret": "csecret",
            },
            timeout=5,
        )
        assert r.status_code == 200
        grant = r.json()
        assert (
            grant["access_token"].startswith("shpat_")
            and grant["expires_in"] == 86399
            and grant["scope"]
        )
        assert gql(srv, "{ shop { name } }", token=grant["access_token"]).status_code == 200
        fake.advance(86398)
        assert gql(srv, "{ shop { name } }", token=grant["access_token"]).status_code == 200
        fake.advance(2)
        assert gql(srv, "{ shop { name } }", token=grant["access_token"]).status_code == 401
        assert gql(srv, "{ shop { name } }").status_code == 200  # the static token never expires


def test_describe_labels_and_faults(server: tuple[ShopifyTwin, TwinServer]) -> None:
    twin, srv = server

    def info(path: str, body: dict[str, Any]) -> Any:
        from email.message import Message

        return twin.describe(Request("POST", path, {}, Message(), json.dumps(body).encode()))

    path = "/shops/dk/admin/api/2026-07/graphql.json"
    i = info(path, {"query": "query Q { products(first: 1) { nodes { id } } shop { name } }"})
    assert (i.label, i.access, i.shop) == ("query products,shop", "read", "dk")
    i = info(
        path,
        {
            "query": (
                "mutation M($k: String!) { a: inventorySetQuantities(input: "
                '{name: "available", reason: "correction", quantities: []}) '
                "@idempotent(key: $k) { userErrors { field } } }"
            )
        },
    )
    assert (i.label, i.access) == ("mutation inventorySetQuantities", "write")
    srv.faults.configure([FaultRule(kinds=("429",), times=1, match="query shop")])
    r = gql(srv, "{ shop { name } }")
    assert r.status_code == 429 and r.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    srv.faults.configure([FaultRule(kinds=("5xx",), times=1, match="mutation *")])
    r = gql(
        srv,
        'mutation { tagsAdd(id: "gid://shopify/Product/1", tags: ["x"]) { userErrors { field } } }',
    )
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("text/html")
    assert gql(srv, "{ shop { name } }").status_code == 200
    assert isinstance(srv.faults, FaultPlan)


# -- cost, bucket, limits ----------------------------------------------------------------------


def test_bucket_throttles_a_burst_and_refills_on_twin_time() -> None:
    fake = FakeClock()
    twin = make_twin(fake, bucket=(50.0, 10.0))
    seed(twin, 3)
    query = "{ products(first: 10) { nodes { id title } } }"  # requested 2 + 4 * 1 = 6
    with TwinServer(twin) as srv:
        answers = [gql(srv, query).json() for _ in range(10)]
        ok = [a for a in answers if "data" in a]
        throttled = [a for a in answers if "data" not in a]
        # 50 points, each query reserves 6 and gets 6 - 5 = 1 back (3 products returned).
        assert ok and throttled
        first = throttled[0]
        assert first["errors"] == [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ]
        assert first["extensions"]["cost"]["requestedQueryCost"] == 6
        assert first["extensions"]["cost"]["actualQueryCost"] is None
        assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 6
        settle(srv, len(answers))
        assert srv.log.counters()["throttled"] == len(throttled)
        fake.advance(1.0)  # 10 points restored
        again = gql(srv, query).json()
        assert "data" in again and again["extensions"]["cost"]["actualQueryCost"] == 5


def test_requested_cost_is_reserved_and_the_difference_refunded() -> None:
    fake = FakeClock()
    twin = make_twin(fake)
    seed(twin, 2)
    with TwinServer(twin) as srv:
        cost = gql(srv, "{ products(first: 250) { nodes { id } } }").json()["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (13, 4)
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000 - 4


def test_max_cost_exceeded() -> None:
    twin = make_twin()
    query = (
        "{ products(first: 250) { nodes { variants(first: 250) { nodes { inventoryItem { "
        "inventoryLevels(first: 250) { nodes { id } } } } } } } }"
    )
    with TwinServer(twin) as srv:
        body = gql(srv, query).json()
    (err,) = body["errors"]
    assert err["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": body["extensions"]["cost"]["requestedQueryCost"],
        "maxCost": 1000,
    }
    assert err["message"].startswith(
        f"Query cost is {err['extensions']['cost']}, which exceeds the single query max cost "
        "limit (1000)."
    )
    assert (
        "data" not in body
        and body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000
    )


def test_input_arrays_over_250_are_refused() -> None:
    twin = make_twin()
    ids = [f"gid://shopify/Product/{i}" for i in range(251)]
    body = twin.execute("dk", "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert body == {
        "errors": [
            {
                "message": (
                    "The input array size of 251 is greater than the maximum allowed of 250."
                ),
                "locations": [{"line": 1, "column": 23}],
                "path": ["nodes", "ids"],
                "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
            }
        ]
    }
    assert (
        twin.execute("dk", "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids[:250]})[
            "data"
        ]["nodes"]
        == [None] * 250
    )


# -- errors in Shopify's shapes ----------------------------------------------------------------


def test_unknown_fields_arguments_and_parse_errors() -> None:
    twin = make_twin()
    assert twin.execute("dk", "query Q {\n  shop { name madeUp }\n}") == {
        "errors": [
            {
                "message": "Field 'madeUp' doesn't exist on type 'Shop'",
                "locations": [{"line": 2, "column": 15}],
                "path": ["query Q", "shop", "madeUp"],
                "extensions": {"code": "undefinedField", "typeName": "Shop", "fieldName": "madeUp"},
            }
        ]
    }
    # Anything outside the subset is an unknown field, root fields included (QueryRoot).
    err = twin.execute("dk", "{ collections(first: 1) { nodes { id } } }")["errors"][0]
    assert err["message"] == "Field 'collections' doesn't exist on type 'QueryRoot'"
    assert err["path"] == ["query", "collections"]
    err = twin.execute("dk", "{ shop { name(x: 1) } }")["errors"][0]
    assert err["extensions"] == {
        "code": "argumentNotAccepted",
        "name": "name",
        "typeName": "Field",
        "argumentName": "x",
    }
    assert err["message"] == "Field 'name' doesn't accept argument 'x'"
    err = twin.execute("dk", "{ shop { name }")["errors"][0]
    assert err == {
        "message": "syntax error, unexpected end of file",
        "locations": [{"line": 1, "column": 16}],
    }
    err = twin.execute("dk", "query($n: String) { products(first: $n) { nodes { id } } }")[
        "errors"
    ][0]
    assert err["message"] == "Type mismatch on variable $n and argument first (String / Int)"
    assert err["extensions"]["code"] == "variableMismatch"
    err = twin.execute("dk", "{ shop }")["errors"][0]
    assert err["extensions"]["code"] == "selectionMismatch"


def test_invalid_variables_and_connection_arguments() -> None:
    twin = make_twin()
    body = twin.execute(
        "dk", "query($n: Int!) { products(first: $n) { nodes { id } } }", {"n": "ten"}
    )
    (err,) = body["errors"]
    assert err["message"] == "Variable $n of type Int! was provided invalid value"
    assert err["extensions"] == {
        "code": "INVALID_VARIABLE",
        "value": "ten",
        "problems": [{"path": [], "explanation": 'Could not coerce value "ten" to Int'}],
    }
    body = twin.execute("dk", "{ products { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last"
    assert body["errors"][0]["path"] == ["products"] and body["data"] is None
    body = twin.execute("dk", "{ products(first: 251) { nodes { id } } }")
    assert "250" in body["errors"][0]["message"]


# -- pagination and search ---------------------------------------------------------------------


PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $reverse: Boolean,
      $q: String, $sort: ProductSortKeys) {
  products(first: $first, after: $after, last: $last, before: $before, reverse: $reverse,
           query: $q, sortKey: $sort) {
    edges { cursor node { title } }
    nodes { title }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def titles(body: dict[str, Any]) -> list[str]:
    return [n["title"] for n in body["data"]["products"]["nodes"]]


def test_cursor_pagination_forward_backward_and_reverse() -> None:
    twin = make_twin()
    seed(twin, 7)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = twin.execute("dk", PAGE, {"first": 3, "after": after})
        conn = body["data"]["products"]
        assert [e["node"]["title"] for e in conn["edges"]] == titles(body)
        seen += titles(body)
        pages += 1
        assert conn["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 3 and seen == [f"Item {i:02d}" for i in range(7)]
    last = twin.execute("dk", PAGE, {"last": 2})
    assert titles(last) == ["Item 05", "Item 06"]
    assert last["data"]["products"]["pageInfo"]["hasPreviousPage"] is True
    before = twin.execute(
        "dk", PAGE, {"last": 2, "before": last["data"]["products"]["pageInfo"]["startCursor"]}
    )
    assert titles(before) == ["Item 03", "Item 04"]
    rev = twin.execute("dk", PAGE, {"first": 2, "reverse": True, "sort": "TITLE"})
    assert titles(rev) == ["Item 06", "Item 05"]
    rev2 = twin.execute(
        "dk",
        PAGE,
        {
            "first": 2,
            "reverse": True,
            "sort": "TITLE",
            "after": rev["data"]["products"]["pageInfo"]["endCursor"],
        },
    )
    assert titles(rev2) == ["Item 04", "Item 03"]


def test_cursor_survives_the_deletion_of_its_item() -> None:
    twin = make_twin()
    ids = seed(twin, 5)
    page = twin.execute("dk", PAGE, {"first": 2})
    cursor = page["data"]["products"]["pageInfo"]["endCursor"]
    got = twin.execute(
        "dk",
        "mutation($id: ID!) { productDelete(input: {id: $id}) { deletedProductId } }",
        {"id": ids[1]},
    )
    assert got["data"]["productDelete"]["deletedProductId"] == ids[1]
    assert titles(twin.execute("dk", PAGE, {"first": 2, "after": cursor})) == ["Item 02", "Item 03"]


def test_search_filters_sort_keys_and_warnings() -> None:
    wall = Wall()
    twin = make_twin(wall=wall)
    ids = seed(twin, 6)
    wall.t += 3600
    twin.execute(
        "dk",
        'mutation($id: ID!) { tagsAdd(id: $id, tags: ["sale"]) { userErrors { field } } }',
        {"id": ids[4]},
    )

    def q(query: str, **kw: Any) -> list[str]:
        body = twin.execute("dk", PAGE, {"first": 50, "q": query, **kw})
        assert "errors" not in body, body
        return titles(body)

    assert q("sku:SKU-03") == ["Item 03"]
    assert q("barcode:5700005") == ["Item 05"]
    assert q("tag:even") == ["Item 00", "Item 02", "Item 04"]
    assert q("tag:even tag_not:sale") == ["Item 00", "Item 02"]
    assert q("product_type:Plates OR sku:SKU-00") == ["Item 00", "Item 03", "Item 04", "Item 05"]
    assert q("NOT product_type:Plates") == ["Item 00", "Item 01", "Item 02"]
    assert q("-tag:odd title:'Item 0'") == ["Item 00", "Item 02", "Item 04"]
    assert q("status:active") == [f"Item {i:02d}" for i in range(6)]
    since = "2026-05-28T20:26:40Z"  # the wall clock's start; tagsAdd moved Item 04 an hour later
    later = "2026-05-28T21:00:00Z"
    assert q(f"updated_at:>='{later}'") == ["Item 04"]
    assert q(f"updated_at:<'{later}' created_at:>={since}") == [
        "Item 00",
        "Item 01",
        "Item 02",
        "Item 03",
        "Item 05",
    ]
    num = ids[2].rsplit("/", 1)[1]
    assert q(f"id:>{num}") == ["Item 03", "Item 04", "Item 05"]
    assert q("", sort="UPDATED_AT", reverse=True)[0] == "Item 04"
    body = twin.execute("dk", PAGE, {"first": 50, "q": "madeup:1 sku:SKU-01"})
    assert titles(body) == ["Item 01"]
    assert body["extensions"]["search"] == [
        {
            "path": ["products"],
            "query": "madeup:1 sku:SKU-01",
            "warnings": [
                {
                    "field": "madeup",
                    "message": "Invalid search field for this query.",
                    "code": "invalid_field",
                }
            ],
        }
    ]
    variants = twin.execute(
        "dk", f'{{ productVariants(first: 10, query: "product_id:{num}") {{ nodes {{ sku }} }} }}'
    )
    assert variants["data"]["productVariants"]["nodes"] == [{"sku": "SKU-02"}]
    items = twin.execute(
        "dk",
        f"{{ inventoryItems(first: 10, query: \"updated_at:>='{later}'\") {{ nodes {{ sku }} }} }}",
    )
    assert items["data"]["inventoryItems"]["nodes"] == []
    counts = twin.execute("dk", '{ productsCount(query: "tag:odd") { count precision } }')
    assert counts["data"]["productsCount"] == {"count": 3, "precision": "EXACT"}


def test_every_write_bumps_updated_at() -> None:
    wall = Wall()
    twin = make_twin(wall=wall)
    (pid,) = seed(twin, 1)
    shop = twin.shop("dk")
    product = shop.products[pid]
    variant = shop.variants[product["variantIds"][0]]
    item = shop.inventory_items[variant["inventoryItemId"]]
    before = (product["updatedAt"], variant["updatedAt"], item["updatedAt"])
    wall.t += 10
    doc = """mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
      productVariantsBulkUpdate(productId: $p, variants: $v) { userErrors { field message } } }"""
    body = twin.execute("dk", doc, {"p": pid, "v": [{"id": variant["id"], "price": "12.50"}]})
    assert body["data"]["productVariantsBulkUpdate"]["userErrors"] == []
    assert product["updatedAt"] > before[0] and variant["updatedAt"] > before[1]
    wall.t += 10
    loc = next(iter(shop.locations))
    doc = """mutation($i: InventorySetQuantitiesInput!) {
      inventorySetQuantities(input: $i) @idempotent(key: "k1") { userErrors { code } } }"""
    rows = [
        {
            "inventoryItemId": item["id"],
            "locationId": loc,
            "quantity": 40,
            "changeFromQuantity": None,
        }
    ]
    body = twin.execute(
        "dk", doc, {"i": {"name": "available", "reason": "correction", "quantities": rows}}
    )
    assert body["data"]["inventorySetQuantities"]["userErrors"] == []
    assert item["updatedAt"] > before[2]
    assert item["levels"][loc]["updatedAt"] == item["updatedAt"]


# -- idempotency -------------------------------------------------------------------------------


SET = """
mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta } } userErrors { field message code } } }
"""


def test_idempotent_key_applies_once_and_refuses_other_parameters() -> None:
    twin = make_twin()
    (pid,) = seed(twin, 1)
    shop = twin.shop("dk")
    item = shop.variants[shop.products[pid]["variantIds"][0]]["inventoryItemId"]
    loc = next(iter(shop.locations))
    row: dict[str, Any] = {
        "inventoryItemId": item,
        "locationId": loc,
        "quantity": 5,
        "changeFromQuantity": 0,
    }
    variables: dict[str, Any] = {
        "input": {"name": "available", "reason": "correction", "quantities": [row]},
        "key": "k-1",
    }
    first = twin.execute("dk", SET, variables)
    again = twin.execute("dk", SET, variables)
    assert first == again
    assert first["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"] == [
        {"name": "available", "delta": 5},
        {"name": "on_hand", "delta": 5},
    ]
    assert len(shop.adjustment_groups) == 1
    assert shop.inventory_items[item]["levels"][loc]["quantities"]["available"] == 5
    other = {**variables, "input": {**variables["input"], "quantities": [{**row, "quantity": 6}]}}
    mismatch = twin.execute("dk", SET, other)["data"]["inventorySetQuantities"]
    assert mismatch["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in mismatch["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    stale = twin.execute("dk", SET, {**other, "key": "k-2"})["data"]["inventorySetQuantities"]
    assert [e["code"] for e in stale["userErrors"]] == ["CHANGE_FROM_QUANTITY_STALE"]
    log = twin.snapshot()["shops"]["dk"]["idempotency"]
    assert [(e["key"], e["replays"]) for e in log] == [("k-1", 1), ("k-2", 0)]
    # 2026-01 did not require the directive yet.
    no_key = SET.replace(" @idempotent(key: $key)", "").replace(", $key: String!", "")
    body = twin.execute(
        "dk",
        no_key,
        {
            "input": {
                **variables["input"],
                "quantities": [{**row, "changeFromQuantity": 5, "quantity": 9}],
            }
        },
        api_version="2026-01",
    )
    assert body["data"]["inventorySetQuantities"]["userErrors"] == []


def test_item_not_stocked_at_location() -> None:
    twin = make_twin()
    (pid,) = seed(twin, 1)
    shop = twin.shop("dk")
    item = shop.variants[shop.products[pid]["variantIds"][0]]["inventoryItemId"]
    store = next(g for g, loc in shop.locations.items() if loc["name"] == "Store")
    row = {"inventoryItemId": item, "locationId": store, "quantity": 5, "changeFromQuantity": None}
    body = twin.execute(
        "dk",
        SET,
        {"input": {"name": "available", "reason": "correction", "quantities": [row]}, "key": "a"},
    )
    (err,) = body["data"]["inventorySetQuantities"]["userErrors"]
    assert err["code"] == "ITEM_NOT_STOCKED_AT_LOCATION" and err["field"] == [
        "input",
        "quantities",
        "0",
        "locationId",
    ]
    act = twin.execute(
        "dk",
        """mutation($i: ID!, $l: ID!) {
          inventoryActivate(inventoryItemId: $i, locationId: $l, available: 2)
            @idempotent(key: "b") {
            inventoryLevel { quantities(names: ["available", "on_hand"]) { name quantity } }
            userErrors { field message } } }""",
        {"i": item, "l": store},
    )
    assert act["data"]["inventoryActivate"]["inventoryLevel"]["quantities"] == [
        {"name": "available", "quantity": 2},
        {"name": "on_hand", "quantity": 2},
    ]
    body = twin.execute(
        "dk",
        SET,
        {"input": {"name": "available", "reason": "correction", "quantities": [row]}, "key": "c"},
    )
    assert body["data"]["inventorySetQuantities"]["userErrors"] == []


# -- nodes, tags, metafields, orders -----------------------------------------------------------


def test_nodes_tags_and_metafields_on_products_variants_and_orders() -> None:
    wall = Wall()
    twin = make_twin(wall=wall)
    (pid,) = seed(twin, 1)
    shop = twin.shop("dk")
    vid = shop.products[pid]["variantIds"][0]
    created = twin.execute(
        "dk",
        """mutation($v: ID!) {
          orderCreate(order: {email: "a@example.com", lineItems: [{variantId: $v, quantity: 1}]}) {
            order { id } userErrors { field message } } }""",
        {"v": vid},
    )
    oid = created["data"]["orderCreate"]["order"]["id"]
    order_updated = shop.orders[oid]["updatedAt"]
    wall.t += 60
    for gid in (pid, oid):
        body = twin.execute(
            "dk",
            """mutation($id: ID!) {
              tagsAdd(id: $id, tags: ["rackbeat-transferred", "b, a"]) {
                node { id } userErrors { field message } } }""",
            {"id": gid},
        )
        assert body["data"]["tagsAdd"] == {"node": {"id": gid}, "userErrors": []}
    assert shop.products[pid]["tags"] == ["a", "b", "even", "rackbeat-transferred"]
    assert shop.orders[oid]["tags"] == ["a", "b", "rackbeat-transferred"]
    assert shop.orders[oid]["updatedAt"] > order_updated
    body = twin.execute(
        "dk",
        'mutation($id: ID!) { tagsRemove(id: $id, tags: ["b"]) { userErrors { field } } }',
        {"id": oid},
    )
    assert shop.orders[oid]["tags"] == ["a", "rackbeat-transferred"]
    mf = """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
      metafields { key namespace value type ownerType }
      userErrors { field message code elementIndex } } }"""
    rows = [
        {
            "ownerId": oid,
            "namespace": "rackbeat",
            "key": "order_number",
            "type": "single_line_text_field",
            "value": "10001",
        },
        {
            "ownerId": pid,
            "namespace": "rackbeat",
            "key": "number",
            "type": "single_line_text_field",
            "value": "SKU-00",
        },
        {
            "ownerId": vid,
            "namespace": "rackbeat",
            "key": "weight",
            "type": "number_integer",
            "value": "12",
        },
    ]
    body = twin.execute("dk", mf, {"m": rows})
    assert body["data"]["metafieldsSet"]["userErrors"] == []
    assert [m["ownerType"] for m in body["data"]["metafieldsSet"]["metafields"]] == [
        "ORDER",
        "PRODUCT",
        "PRODUCTVARIANT",
    ]
    bad = twin.execute(
        "dk",
        mf,
        {"m": [{**rows[2], "value": "twelve"}, {**rows[0], "ownerId": "gid://shopify/Order/1"}]},
    )
    assert [e["code"] for e in bad["data"]["metafieldsSet"]["userErrors"]] == [
        "INVALID_VALUE",
        "INVALID",
    ]
    read = twin.execute(
        "dk",
        """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
            ... on Product { title metafield(namespace: "rackbeat", key: "number") { value } }
            ... on ProductVariant {
              sku metafield(namespace: "rackbeat", key: "weight") { jsonValue } }
            ... on Order { tags metafield(namespace: "rackbeat", key: "order_number") { value } }
            ... on InventoryItem { sku } ... on Location { name } } }""",
        {
            "ids": [
                pid,
                vid,
                oid,
                shop.variants[vid]["inventoryItemId"],
                next(iter(shop.locations)),
                "gid://shopify/Product/42",
            ]
        },
    )
    nodes = read["data"]["nodes"]
    assert [n and n["__typename"] for n in nodes] == [
        "Product",
        "ProductVariant",
        "Order",
        "InventoryItem",
        "Location",
        None,
    ]
    assert nodes[0]["metafield"] == {"value": "SKU-00"} and nodes[1]["metafield"] == {
        "jsonValue": 12
    }
    assert nodes[2]["metafield"] == {"value": "10001"} and nodes[2]["tags"] == [
        "a",
        "rackbeat-transferred",
    ]


def test_locations_query_and_snapshot_reset() -> None:
    twin = make_twin()
    body = twin.execute(
        "dk",
        """{ locations(first: 5) { nodes { name isActive } } location { name }
             l: locations(first: 5, query: "name:Store") { nodes { name } } }""",
    )
    assert body["data"] == {
        "locations": {
            "nodes": [
                {"name": "Main warehouse", "isActive": True},
                {"name": "Store", "isActive": True},
            ]
        },
        "location": {"name": "Main warehouse"},
        "l": {"nodes": [{"name": "Store"}]},
    }
    seed(twin, 2)
    snap = twin.snapshot()["shops"]["dk"]
    assert len(snap["products"]) == 2 and len(snap["inventoryItems"]) == 2
    json.dumps(twin.snapshot())  # JSON all the way down
    twin.reset()
    assert twin.snapshot() == {"shops": {}}


# -- product writes without a recording --------------------------------------------------------


def test_variants_bulk_create_replaces_the_standalone_variant() -> None:
    twin = make_twin()
    shop = twin.shop("dk")
    created = twin.execute(
        "dk",
        """mutation { productCreate(product: {title: "Shirt", productOptions: [
              {name: "Size", values: [{name: "S"}, {name: "M"}]}]}) {
            product { id hasOnlyDefaultVariant variants(first: 5) { nodes { title } }
                      options { name values optionValues { name hasVariants } } } } }""",
    )["data"]["productCreate"]["product"]
    assert created["variants"]["nodes"] == [{"title": "S"}]
    assert created["options"] == [
        {
            "name": "Size",
            "values": ["S"],
            "optionValues": [
                {"name": "S", "hasVariants": True},
                {"name": "M", "hasVariants": False},
            ],
        }
    ]
    plain = twin.execute(
        "dk",
        'mutation { productCreate(product: {title: "Mug"}) '
        "{ product { id hasOnlyDefaultVariant } } }",
    )["data"]["productCreate"]["product"]
    assert plain["hasOnlyDefaultVariant"] is True
    store = next(g for g, loc in shop.locations.items() if loc["name"] == "Store")
    doc = """mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
      productVariantsBulkCreate(productId: $p, variants: $v) {
        product {
          hasOnlyDefaultVariant variants(first: 5) { nodes { title sku inventoryQuantity } } }
        userErrors { field message code } } }"""
    rows = [
        {
            "optionValues": [{"optionName": "Color", "name": "Blue"}],
            "price": "20.00",
            "inventoryItem": {"sku": "MUG-B", "tracked": True},
            "inventoryQuantities": [{"locationId": store, "availableQuantity": 4}],
        },
        {
            "optionValues": [{"optionName": "Color", "name": "Red"}],
            "inventoryItem": {"sku": "MUG-R"},
        },
    ]
    body = twin.execute("dk", doc, {"p": plain["id"], "v": rows})["data"][
        "productVariantsBulkCreate"
    ]
    assert body["userErrors"] == []
    assert body["product"] == {
        "hasOnlyDefaultVariant": False,
        "variants": {
            "nodes": [
                {"title": "Blue", "sku": "MUG-B", "inventoryQuantity": 4},
                {"title": "Red", "sku": "MUG-R", "inventoryQuantity": 0},
            ]
        },
    }
    again = twin.execute("dk", doc, {"p": plain["id"], "v": rows[1:]})["data"][
        "productVariantsBulkCreate"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["VARIANT_ALREADY_EXISTS"]


def test_variants_bulk_create_needs_a_value_for_every_option() -> None:
    """A new variant of a product with options names a value of each (Shopify:
    ``NEED_TO_ADD_OPTION_VALUES``, "Variant options are not enough"); the twin made a
    ``Default Title`` variant beside "Red / Small" instead, which Shopify never holds."""
    twin = make_twin()
    made = twin.execute(
        "dk",
        """mutation { productCreate(product: {title: "Shirt", productOptions: [
              {name: "Color", values: [{name: "Red"}, {name: "Blue"}]},
              {name: "Size", values: [{name: "Small"}, {name: "Large"}]}]}) {
            product { id } } }""",
    )["data"]["productCreate"]["product"]
    doc = """mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
      productVariantsBulkCreate(productId: $p, variants: $v) {
        product { variants(first: 5) { nodes { title } } }
        productVariants { title }
        userErrors { field code } } }"""
    cases = [
        ({"price": "11.00"}, ["Color", "Size"]),
        ({"optionValues": [{"optionName": "Color", "name": "Blue"}]}, ["Size"]),
    ]
    for row, missing in cases:
        body = twin.execute("dk", doc, {"p": made["id"], "v": [row]})["data"][
            "productVariantsBulkCreate"
        ]
        assert body["userErrors"] == [
            {"field": ["variants", "0"], "code": "NEED_TO_ADD_OPTION_VALUES"}
        ]
        assert body["productVariants"] == []
        assert body["product"]["variants"]["nodes"] == [{"title": "Red / Small"}], missing
    full = [{"optionValues": [{"optionName": "Size", "name": "Large"},
                              {"optionName": "Color", "name": "Blue"}]}]
    body = twin.execute("dk", doc, {"p": made["id"], "v": full})["data"][
        "productVariantsBulkCreate"
    ]
    assert body["userErrors"] == []
    assert body["productVariants"] == [{"title": "Blue / Large"}]


def test_inventory_item_update_and_product_update_by_identifier() -> None:
    twin = make_twin()
    (pid,) = seed(twin, 1)
    shop = twin.shop("dk")
    item = shop.variants[shop.products[pid]["variantIds"][0]]["inventoryItemId"]
    body = twin.execute(
        "dk",
        """mutation($id: ID!) { inventoryItemUpdate(id: $id, input: {
              sku: "NEW-1", cost: "4.5", harmonizedSystemCode: "6912.00",
              measurement: {weight: {value: 350, unit: GRAMS}}}) {
            inventoryItem { sku unitCost { amount currencyCode } harmonizedSystemCode
                            measurement { weight { value unit } } variant { sku } }
            userErrors { field message } } }""",
        {"id": item},
    )["data"]["inventoryItemUpdate"]
    assert body == {
        "inventoryItem": {
            "sku": "NEW-1",
            "unitCost": {"amount": "4.50", "currencyCode": "DKK"},
            "harmonizedSystemCode": "691200",
            "measurement": {"weight": {"value": 350.0, "unit": "GRAMS"}},
            "variant": {"sku": "NEW-1"},
        },
        "userErrors": [],
    }
    body = twin.execute(
        "dk",
        """mutation { productUpdate(identifier: {handle: "item-00"},
              product: {title: "Renamed", descriptionHtml: "<p>Hi &amp; bye</p>", status: DRAFT}) {
            product { title description status handle } userErrors { field message } } }""",
    )["data"]["productUpdate"]
    assert body == {
        "product": {
            "title": "Renamed",
            "description": "Hi & bye",
            "status": "DRAFT",
            "handle": "item-00",
        },
        "userErrors": [],
    }
    missing = twin.execute(
        "dk",
        'mutation { productUpdate(product: {id: "gid://shopify/Product/1", title: "x"}) '
        "{ product { id } userErrors { field message } } }",
    )["data"]["productUpdate"]
    assert missing == {
        "product": None,
        "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
    }


def test_admin_extras_over_http() -> None:
    twin = ShopifyTwin(wall=Wall())
    with TwinServer(twin) as srv:
        r = requests.post(
            f"{srv.url}/__sandbox/shops",
            json={"name": "no", "token": "shpat_no", "currency": "NOK", "locations": ["Oslo"]},
            timeout=5,
        )
        assert r.json()["shops"][0]["name"] == "no"
        before = requests.get(f"{srv.url}/__sandbox/time", timeout=5).json()["now"]
        after = requests.post(
            f"{srv.url}/__sandbox/time", json={"advance": 86400}, timeout=5
        ).json()["now"]
        assert after - before == 86400
        r = requests.post(f"{srv.url}/__sandbox/bulk", json={"polls": 3}, timeout=5)
        assert r.json() == {"polls": 3, "delay": None}
        assert gql(srv, "{ shop { currencyCode } }", shop="no", token="shpat_no").json()[
            "data"
        ] == {"shop": {"currencyCode": "NOK"}}
        state = requests.get(f"{srv.url}/__sandbox/state", timeout=5).json()
        assert list(state["shops"]) == ["no"]
        # the market rate payments convert at, not the order's own (10.00 NOK per EUR here)
        rates = f"{srv.url}/__sandbox/exchange-rates"
        r = requests.post(rates, json={"shop": "no", "from": "eur", "to": "NOK", "rate": "11.5"},
                          timeout=5)
        assert r.json()["no"]["EUR/NOK"] == "11.5"
        assert requests.post(rates, json={"shop": "no", "from": "EUR", "to": "NOK", "rate": 0},
                             timeout=5).status_code == 400
        money = {"shopMoney": {"amount": "100.00", "currencyCode": "NOK"},
                 "presentmentMoney": {"amount": "10.00", "currencyCode": "EUR"}}
        made = gql(srv, "mutation($o: OrderCreateOrderInput!) { orderCreate(order: $o) {"
                   " order { id } } }",
                   {"o": {"currency": "NOK", "presentmentCurrency": "EUR",
                          "lineItems": [{"title": "Mug", "quantity": 1, "priceSet": money}]}},
                   shop="no", token="shpat_no").json()
        paid = gql(srv, "mutation($i: OrderMarkAsPaidInput!) { orderMarkAsPaid(input: $i) {"
                   " order { transactions { amountSet { shopMoney { amount } } } } } }",
                   {"i": {"id": made["data"]["orderCreate"]["order"]["id"]}},
                   shop="no", token="shpat_no").json()
        (sale,) = paid["data"]["orderMarkAsPaid"]["order"]["transactions"]
        assert sale["amountSet"]["shopMoney"]["amount"] == "115.0"
    twin.close()
