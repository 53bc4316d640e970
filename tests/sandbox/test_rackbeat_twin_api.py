"""The Rackbeat twin over real HTTP: auth, envelopes, paging, filters, items, stock, orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from rackshop.sandbox.base import Clock, TwinServer
from rackshop.sandbox.rackbeat import RackbeatTwin

TOKEN = "sandbox-rackbeat-token"
CET = timezone(timedelta(hours=1))


class Api:
    """A thin client for the tests: base URL, bearer token, one session."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        self.base = f"{url}/api"
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=5)

    def post(self, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, params=params, timeout=5)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.base + path, json=body, timeout=5)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path, timeout=5)

    def close(self) -> None:
        self.session.close()


class FakeNow:
    """An injectable wall clock for ``created_at``/``updated_at``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=CET)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def now() -> FakeNow:
    return FakeNow()


@pytest.fixture
def twin(now: FakeNow) -> RackbeatTwin:
    t = RackbeatTwin(Clock(scale=60), wall_clock=now, tokens=(TOKEN, "second-token"))
    t.add_location(1, "Main warehouse", is_default=True)
    t.add_location(2, "Shop")
    t.add_location(21, "Shop back room", parent=2)
    t.add_product_group(1, "Goods", vat_domestic=25.0)
    t.add_product_group(9, "Services", has_inventory=False)
    t.add_product("A-1", "Apple", 10.0, 1, barcode="5700000000011", stock={1: 10})
    t.add_product("B-2", "Banana", 20.0, 1, stock={1: 4, 21: 2})
    t.add_product("FREIGHT", "Freight", 49.0, 9)
    return t


@pytest.fixture
def server(twin: RackbeatTwin) -> Iterator[TwinServer]:
    with TwinServer(twin) as srv:
        yield srv
    twin.close()


@pytest.fixture
def api(server: TwinServer) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    client.close()


def make_api(server: TwinServer, token: str | None) -> Api:
    return Api(server.url, token)


# -- auth, routing, envelopes ---------------------------------------------------------------


def test_bearer_token_is_required(server: TwinServer) -> None:
    for token in (None, "wrong"):
        anon = make_api(server, token)
        resp = anon.get("/products")
        assert resp.status_code == 401
        assert resp.json() == {"message": "Unauthenticated."}
        anon.close()
    other = make_api(server, "second-token")
    assert other.get("/products").status_code == 206
    other.close()


def test_api_version_and_consumer_headers_are_accepted(api: Api) -> None:
    api.session.headers.update(
        {
            "API-Version": "latest",
            "Consumer-Name": "rackshop",
            "Consumer-Contact": "ops@example.com",
        }
    )
    assert api.get("/self").status_code == 200
    assert api.get("/self").json()["user_account"]["company_name"]


def test_unknown_route_404_and_wrong_method_405(api: Api) -> None:
    assert api.get("/nothing-here").status_code == 404
    resp = api.delete("/self")
    assert resp.status_code == 405
    assert "Supported methods: GET" in resp.json()["message"]


def test_single_records_are_wrapped_and_unknown_numbers_404(api: Api) -> None:
    resp = api.get("/products/A-1")
    assert resp.status_code == 200
    product = resp.json()["product"]
    assert product["number"] == "A-1"
    assert product["group"] == {
        "number": 1,
        "name": "Goods",
        "vat_domestic": 25.0,
        "vat_eu": 0.0,
        "vat_abroad": 0.0,
        "vat_domestic_exempt": 0.0,
    }
    assert product["created_at"] == "2026-03-01T12:00:00+01:00"
    missing = api.get("/products/NOPE")
    assert missing.status_code == 404
    assert "message" in missing.json()
    assert api.get("/orders/424242").status_code == 404


def test_invalid_json_body_is_a_400(api: Api) -> None:
    resp = api.session.post(
        api.base + "/products",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert resp.status_code == 400


# -- paging -----------------------------------------------------------------------------------


def test_pagination_206_with_exact_envelope_across_pages(twin: RackbeatTwin, api: Api) -> None:
    for i in range(22):
        twin.add_product(f"P-{i:02d}", f"Product {i}", 1.0, 1)
    total = 25  # 3 from the fixture
    seen: list[str] = []
    page, pages = 1, None
    while pages is None or page <= pages:
        resp = api.get("/products", page=page, limit=10)
        assert resp.status_code == 206
        body = resp.json()
        assert set(body) == {"products", "page", "pages", "limit", "total"}
        assert (body["page"], body["pages"], body["limit"], body["total"]) == (page, 3, 10, total)
        seen += [p["number"] for p in body["products"]]
        pages = body["pages"]
        page += 1
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen, key=str.casefold)
    default = api.get("/products").json()
    assert (default["limit"], len(default["products"]), default["pages"]) == (20, 20, 2)
    beyond = api.get("/products", page=9, limit=10).json()
    assert (beyond["products"], beyond["total"]) == ([], total)


def test_empty_list_has_one_page(api: Api) -> None:
    body = api.get("/orders").json()
    assert body == {"orders": [], "page": 1, "pages": 1, "limit": 20, "total": 0}


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"limit": 1001}, "limit", "The limit may not be greater than 1000."),
        ({"limit": 0}, "limit", "The limit must be at least 1."),
        ({"page": 0}, "page", "The page must be at least 1."),
        ({"page": "x"}, "page", "The page must be an integer."),
    ],
)
def test_bad_paging_parameters_are_422(
    api: Api, params: dict[str, Any], key: str, message: str
) -> None:
    resp = api.get("/products", **params)
    assert resp.status_code == 422
    assert resp.json()["errors"] == {key: [message]}
    assert api.get("/products", limit=1000).status_code == 206


def test_per_endpoint_plural_keys(twin: RackbeatTwin, api: Api) -> None:
    number = twin.add_customer("Jane", "jane@example.com")
    api.post(f"/customers/{number}/contacts", {"name": "Jane"})
    api.post(f"/customers/{number}/addresses", {"type": "delivery", "street": "Vej 1"})
    twin.add_field(7, "Colour")
    twin.set_field_value("A-1", 7, "Red")
    expected = {
        "/products": "products",
        "/items": "items",
        "/lots": "lots",
        "/locations": "locations",
        "/locations/2/children": "locations",
        "/product-groups": "product_groups",
        "/customers": "customers",
        f"/customers/{number}/addresses": "addresses",
        f"/customers/{number}/contacts": "customer_contacts",
        "/inventory-adjustments": "inventory_regulations",
        "/products/A-1/locations": "product_locations",
        "/products/A-1/fields": "field_values",
        "/items/A-1/locations": "item_locations",
        "/items/A-1/locations/available": "locations",
        "/orders": "orders",
        "/order-shipments": "order_shipments",
        "/customer-invoices": "customer_invoices",
        "/webhooks": "webhooks",
        "/customer-groups": "customer_groups",
        "/payment-terms": "payment_terms",
        "/layouts": "layouts",
        "/employees": "employees",
        "/currencies": "currencies",
        "/units": "units",
        "/reports/checking": "items",
    }
    for path, key in expected.items():
        resp = api.get(path)
        assert resp.status_code == 206, path
        assert key in resp.json(), path
    fields = api.get("/products/A-1/fields").json()["field_values"]
    assert fields == [{"field": {"id": 7, "name": "Colour", "slug": "colour"}, "value": "Red"}]


# -- filters -----------------------------------------------------------------------------------


def numbers(resp: requests.Response, key: str = "products") -> list[Any]:
    assert resp.status_code == 206, resp.text
    return [r["number"] for r in resp.json()[key]]


def test_search_is_free_text_on_number_name_and_barcode(api: Api) -> None:
    assert numbers(api.get("/products", search="appl")) == ["A-1"]
    assert numbers(api.get("/products", search="b-2")) == ["B-2"]
    assert numbers(api.get("/products", search="57000000")) == ["A-1"]


def test_simple_filters_and_not_filterable_properties(twin: RackbeatTwin, api: Api) -> None:
    assert numbers(api.get("/products", **{"simple_filter[number]": "a-1"})) == ["A-1"]
    assert numbers(api.get("/products", **{"simple_filter[barcode]": "5700000000011"})) == ["A-1"]
    assert numbers(api.get("/items", **{"simple_filter[type]": "product"}), "items") == [
        "A-1",
        "B-2",
        "FREIGHT",
    ]
    number = twin.add_customer("Jane", "Jane@Example.com", ean="5790000000000")
    twin.add_customer("Joe", "joe@example.com")
    assert numbers(
        api.get("/customers", **{"simple_filter[ean]": "5790000000000"}), "customers"
    ) == [number]
    assert numbers(
        api.get("/customers", **{"simple_filter[contact_email]": "jane@example.com"}), "customers"
    ) == [number]
    resp = api.get("/orders", **{"simple_filter[is_booked]": "false"})
    assert resp.status_code == 422
    assert resp.json()["message"] == "Property 'is_booked' is not filterable"
    assert api.get("/orders", **{"simple_filter[other_reference]": "x"}).status_code == 422
    assert api.get("/orders", **{"simple_filter[number]": "1"}).status_code == 206


def test_date_filters_accept_both_formats(twin: RackbeatTwin, api: Api, now: FakeNow) -> None:
    now.advance(hours=1)  # 13:00 CET
    twin.add_product("NEW", "New", 1.0, 1)
    now.advance(hours=1)  # 14:00 CET
    twin.set_stock("A-1", 1, 11)  # a stock movement bumps updated_at
    assert numbers(api.get("/products", created_at_from="2026-03-01 13:00:00")) == ["NEW"]
    assert numbers(api.get("/products", created_at_from="2026-03-01T12:00:00Z")) == ["NEW"]
    assert numbers(api.get("/products", created_at_to="2026-03-01T11:59:59Z")) == [
        "A-1",
        "B-2",
        "FREIGHT",
    ]
    assert numbers(api.get("/products", updated_at_from="2026-03-01T14:00:00+01:00")) == ["A-1"]
    assert numbers(
        api.get(
            "/products", updated_at_from="2026-03-01 12:30:00", updated_at_to="2026-03-01 13:30:00"
        )
    ) == ["NEW"]
    assert len(numbers(api.get("/products", updated_at_to="2026-03-01"))) == 4  # whole day
    # A "+" the client forgot to encode becomes a space: not a date.
    resp = api.session.get(
        api.base + "/products?updated_at_from=2026-03-01T12:00:00+01:00", timeout=5
    )
    assert resp.status_code == 422
    assert "updated_at_from" in resp.json()["errors"]


def test_order_by_and_direction(api: Api) -> None:
    assert numbers(api.get("/products", order_by="sales_price", order_direction="DESC")) == [
        "FREIGHT",
        "B-2",
        "A-1",
    ]
    assert numbers(api.get("/products", order_by="name", order_direction="asc")) == [
        "A-1",
        "B-2",
        "FREIGHT",
    ]
    assert api.get("/products", order_by="colour").status_code == 422
    assert api.get("/products", order_by="name", order_direction="UP").status_code == 422


def test_fields_selection(api: Api) -> None:
    body = api.get("/products", fields="number,available_quantity", limit=1).json()
    assert body["products"] == [{"number": "A-1", "available_quantity": 10.0}]
    one = api.get("/products/A-1", fields="number,group(number)").json()
    assert one == {"product": {"number": "A-1", "group": {"number": 1}}}


def test_custom_field_filters(twin: RackbeatTwin, api: Api) -> None:
    twin.set_field_value("A-1", 3, "Dark Red")
    twin.set_field_value("B-2", 3, "Red")
    assert numbers(api.get("/products", **{"field_eq[3]": "red"})) == ["B-2"]
    assert numbers(api.get("/products", **{"field[3]": "red"})) == ["A-1", "B-2"]


# -- items -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "encoded"),
    [
        ("AB/12", "AB%2F12"),
        ("#123", "%23123"),
        ("TEE 3", "TEE%203"),
        ("X/Y #1 z", "X%2FY%20%231%20z"),
    ],
)
def test_numbers_with_slash_hash_and_space_are_decoded_once(
    twin: RackbeatTwin, api: Api, number: str, encoded: str
) -> None:
    twin.add_product(number, "Odd", 1.0, 1, stock={1: 2})
    for path in (f"/products/{encoded}", f"/items/{encoded}"):
        resp = api.get(path)
        assert resp.status_code == 200, path
        assert next(iter(resp.json().values()))["number"] == number
    assert api.get(f"/products/{encoded}/locations").status_code == 206
    assert (
        api.put(f"/products/{encoded}", {"name": "Renamed"}).json()["product"]["name"] == "Renamed"
    )
    double = encoded.replace("%", "%25")  # encoded twice: not found, as in the real service
    assert api.get(f"/products/{double}").status_code == 404


def test_product_create_validation(api: Api) -> None:
    resp = api.post("/products", {"number": "A-1", "group": 77, "sales_price": "abc"})
    assert resp.status_code == 422
    assert resp.json() == {
        "message": "The given data was invalid.",
        "errors": {
            "number": ["The number has already been taken."],
            "name": ["The name field is required."],
            "group": ["The selected group is invalid."],
            "sales_price": ["The sales price must be a number."],
        },
    }
    resp = api.post("/products", {"number": "a-1", "name": "x", "group": 1, "sales_price": 1})
    assert resp.json()["errors"] == {
        "number": ["The number has already been taken."]
    }  # case-insensitive
    resp = api.post("/products", {})
    assert set(resp.json()["errors"]) == {"number", "name", "group", "sales_price"}


def test_product_create_and_update(api: Api, now: FakeNow) -> None:
    payload = {
        "number": "NEW-1",
        "name": "Teapot",
        "group": 1,
        "sales_price": 199.2,
        "barcode": "123",
        "description": "Blue",
        "physical": {"weight": 0.7, "weight_unit": "kg"},
        "stock_quantity": 50,  # not a way to register stock: ignored
    }
    resp = api.post("/products", payload)
    assert resp.status_code == 201
    product = resp.json()["product"]
    assert (product["type"], product["stock_quantity"], product["physical"]["weight"]) == (
        "product",
        0.0,
        0.7,
    )
    assert product["urlfriendly_number"] == "NEW-1"
    now.advance(minutes=5)
    resp = api.put("/products/NEW-1", {"sales_price": 179, "is_barred": True})
    assert resp.status_code == 200
    updated = resp.json()["product"]
    assert (updated["sales_price"], updated["is_barred"]) == (179.0, True)
    assert updated["updated_at"] == "2026-03-01T12:05:00+01:00"
    assert (
        api.put("/products/NEW-1", {"physical": {"weight": 1, "weight_unit": "stone"}}).status_code
        == 422
    )
    assert api.put("/products/NEW-1", {"group": 42}).status_code == 422


def test_product_delete_refused_once_stock_registered(api: Api) -> None:
    resp = api.delete("/products/A-1")
    assert resp.status_code == 422
    assert "inventory has been registered" in resp.json()["message"]
    assert api.post("/products/A-1/convert").status_code == 422
    api.post("/products", {"number": "TMP", "name": "Tmp", "group": 1, "sales_price": 1})
    assert api.delete("/products/TMP").status_code == 200
    assert api.get("/products/TMP").status_code == 404


def test_lots_and_convert(api: Api) -> None:
    resp = api.post(
        "/lots",
        {
            "number": "KIT",
            "name": "Kit",
            "group": 1,
            "sales_price": 25,
            "lines": [{"item_id": "A-1", "quantity": 2}],
        },
    )
    assert resp.status_code == 201
    lot = resp.json()["lot"]
    assert lot["type"] == "lot"
    assert lot["lines"][0]["child_id"] == "A-1"
    assert (lot["stock_quantity"], lot["available_quantity"]) == (5.0, 5.0)
    assert api.get("/products/KIT").status_code == 404
    assert api.get("/items/KIT").json()["item"]["type"] == "lot"
    assert [
        r["stock_quantity"] for r in api.get("/lots/KIT/locations").json()["lot_locations"]
    ] == [5, 0, 0]
    api.post("/products", {"number": "SET", "name": "Set", "group": 1, "sales_price": 1})
    resp = api.post("/products/SET/convert", {"lines": [{"item_id": "B-2", "quantity": 1}]})
    assert resp.status_code == 200
    assert resp.json()["lot"]["type"] == "lot"


def test_locations_tree(api: Api) -> None:
    locs = {loc["number"]: loc for loc in api.get("/locations").json()["locations"]}
    assert locs[1]["is_default"] is True
    assert (locs[2]["children_count"], locs[2]["nesting_level"], locs[2]["parent_id"]) == (
        1,
        0,
        None,
    )
    assert (locs[21]["parent_id"], locs[21]["nesting_level"]) == (2, 1)
    assert [c["number"] for c in api.get("/locations/2/children").json()["locations"]] == [21]
    assert api.get("/locations/21").json()["location"]["name"] == "Shop back room"


def test_product_groups(api: Api) -> None:
    resp = api.post(
        "/product-groups",
        {
            "number": 1100,
            "name": "Food",
            "vat_domestic": 12,
            "has_inventory": True,
            "is_sellable": True,
        },
    )
    assert resp.status_code == 201
    group = api.get("/product-groups/1100").json()["product_group"]
    assert (group["vat_domestic"], group["vat_eu"], group["has_inventory"]) == (12.0, 0.0, True)
    assert api.post("/product-groups", {"number": 1100, "name": "Again"}).status_code == 422


# -- stock -----------------------------------------------------------------------------------


def adjust(api: Api, number: str, quantity: float, location: int = 1) -> requests.Response:
    return api.post(
        "/inventory-adjustments",
        {
            "item_id": number,
            "adjustment_type": "quantity",
            "quantity": quantity,
            "location": location,
            "regulated_at": "2026-03-01",
            "reason": "count",
        },
    )


def stock(api: Api, number: str) -> tuple[float, float, float]:
    p = api.get(f"/items/{number}").json()["item"]
    return p["stock_quantity"], p["in_order_quantity"], p["available_quantity"]


def test_inventory_adjustments_over_http(api: Api) -> None:
    resp = adjust(api, "A-1", 17)
    assert resp.status_code == 201
    reg = resp.json()["inventory_regulation"]
    assert (reg["is_booked"], reg["quantity"], reg["difference"], reg["item_id"]) == (
        False,
        17.0,
        7.0,
        "A-1",
    )
    assert stock(api, "A-1") == (10, 0, 10)  # a draft changes nothing
    listed = api.get(
        "/inventory-adjustments",
        **{"simple_filter[item_id]": "A-1", "simple_filter[is_booked]": "0"},
    )
    assert [r["id"] for r in listed.json()["inventory_regulations"]] == [reg["id"]]
    booked = api.post(f"/inventory-adjustments/{reg['id']}/book")
    assert booked.status_code == 200
    assert booked.json()["inventory_regulation"]["is_booked"] is True
    assert stock(api, "A-1") == (17, 0, 17)
    again = api.post(f"/inventory-adjustments/{reg['id']}/book")
    assert again.status_code == 422
    zero = adjust(api, "A-1", 17)
    assert zero.status_code == 422
    assert zero.json()["message"] == "Adjustment can't be created, since no change is made."
    per_loc = api.get("/products/A-1/locations").json()["product_locations"]
    assert [(r["number"], r["stock_quantity"]) for r in per_loc] == [(1, 17), (2, 0), (21, 0)]


def test_stock_report_and_available_per_location(twin: RackbeatTwin, api: Api) -> None:
    customer = twin.add_customer("Jane", "jane@example.com")
    order = api.post(
        "/orders/drafts",
        {"customer_id": customer, "lines": [{"item_id": "B-2", "quantity": 1, "location_id": 21}]},
    ).json()["order"]
    api.post(f"/orders/{order['number']}/book")
    body = api.get("/reports/checking", show_all_locations="true", limit=1000).json()
    assert body["limit"] == 1000
    b2 = next(i for i in body["items"] if i["number"] == "B-2")
    assert (b2["stock_quantity"], b2["in_order_quantity"], b2["available_quantity"]) == (6, 1, 5)
    assert b2["locations"] == [
        {
            "number": 1,
            "name": "Main warehouse",
            "stock_quantity": 4,
            "in_order_quantity": 0,
            "available_quantity": 4,
        },
        {
            "number": 2,
            "name": "Shop",
            "stock_quantity": 0,
            "in_order_quantity": 0,
            "available_quantity": 0,
        },
        {
            "number": 21,
            "name": "Shop back room",
            "stock_quantity": 2,
            "in_order_quantity": 1,
            "available_quantity": 1,
        },
    ]
    assert "FREIGHT" not in [i["number"] for i in body["items"]]  # no inventory
    short = api.get("/reports/checking").json()
    assert [
        loc["number"]
        for loc in next(i for i in short["items"] if i["number"] == "B-2")["locations"]
    ] == [1, 21]
    avail = api.get("/items/B-2/locations/available").json()["locations"]
    assert avail[2]["available_quantity"] == 1


# -- customers -------------------------------------------------------------------------------


def test_customer_auto_numbering_and_email_search(api: Api) -> None:
    first = api.post("/customers", {"company_name": "Acme", "contact_email": "Buyer@Acme.dk"})
    assert first.status_code == 201
    cust = first.json()["customer"]
    assert (cust["number"], cust["name"], cust["company_name"]) == (1001, "Acme", "Acme")
    assert (cust["vat_zone"], cust["currency"], cust["customer_group_id"]) == ("domestic", "DKK", 1)
    second = api.post(
        "/customers", {"name": "Beta", "contact_email": "beta@example.com", "vat_zone": "eu"}
    )
    assert second.json()["customer"]["number"] == 1002
    assert numbers(api.get("/customers", search="buyer@acme.dk"), "customers") == [1001]
    assert numbers(
        api.get("/customers", **{"simple_filter[contact_email]": "BUYER@acme.dk"}), "customers"
    ) == [1001]
    assert numbers(api.get("/customers", search="nobody@x.dk"), "customers") == []
    bad = api.post("/customers", {"name": "Gamma", "payment_terms_id": 42, "layout_id": 9})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"payment_terms_id", "layout_id"}
    upd = api.put("/customers/1001", {"contact_phone": "+4512345678", "address_city": "Aarhus"})
    assert upd.json()["customer"]["address_city"] == "Aarhus"
    for path, key in (("/customer-groups", "customer_groups"), ("/payment-terms", "payment_terms")):
        assert api.get(path).json()[key]
    assert api.get("/employees/1").status_code == 200
    assert api.get("/currencies/eur").json()["currency"]["code"] == "EUR"


# -- orders ------------------------------------------------------------------------------------


def order_payload(customer: int, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "currency": "DKK",
        "vat_zone": "domestic",
        "other_reference": "shop-dk #1001",
        "heading": "Shopify order #1001",
        "order_date": "2026-03-01",
        "address_name": "Jane Doe",
        "address_street": "Vej 1",
        "address_city": "Aarhus",
        "address_zipcode": "8000",
        "address_country": "DK",
        "delivery_address": {"email": "jane@example.com", "phone": "+45 1234"},
        "lines": [
            {
                "item_id": "A-1",
                "name": "Apple",
                "quantity": 3,
                "line_price": 8.0,
                "discount_percentage": 10,
                "vat_percentage": 25,
            },
            {
                "item_id": "B-2",
                "quantity": 1,
                "line_price": 20.0,
                "vat_percentage": 25,
                "location_id": 21,
            },
            {"item_id": "FREIGHT", "quantity": 1, "line_price": 39.2, "vat_percentage": 25},
        ],
        **extra,
    }


def test_order_state_machine_over_http(twin: RackbeatTwin, api: Api) -> None:
    customer = twin.add_customer("Jane", "jane@example.com")
    resp = api.post("/orders/drafts", order_payload(customer))
    assert resp.status_code == 201
    order = resp.json()["order"]
    n = order["number"]
    assert n == 1001
    assert (order["is_booked"], order["is_shipped"], order["is_invoiced"]) == (False, False, False)
    assert [ln["line_total"] for ln in order["lines"]] == [21.6, 20.0, 39.2]
    assert [ln["vat_amount"] for ln in order["lines"]] == [5.4, 5.0, 9.8]
    assert (order["total_subtotal"], order["total_vat"], order["total_total"]) == (
        80.8,
        20.2,
        101.0,
    )
    assert order["lines"][0]["item"] == {
        "number": "A-1",
        "name": "Apple",
        "barcode": "5700000000011",
    }
    assert order["lines"][0]["child_type"] == "product"
    assert order["billing_address"]["street"] == "Vej 1"
    assert order["delivery_address"]["email"] == "jane@example.com"

    assert api.put(f"/orders/{n}", {"heading": "Changed"}).json()["order"]["heading"] == "Changed"
    assert api.post(f"/orders/{n}/create-shipment").status_code == 422  # not booked
    assert api.post(f"/orders/{n}/book", {"mail": {"send": False}}).status_code == 200
    assert stock(api, "A-1") == (10, 3, 7)
    assert stock(api, "B-2") == (6, 1, 5)
    assert stock(api, "FREIGHT") == (0, 0, 0)  # no inventory
    assert api.post(f"/orders/{n}/book").status_code == 422
    assert api.put(f"/orders/{n}", {"heading": "Again"}).status_code == 422
    assert api.delete(f"/orders/{n}").status_code == 422
    line_id = order["lines"][0]["id"]
    assert api.put(f"/orders/{n}/lines/{line_id}", {"quantity": 9}).status_code == 422

    resp = api.post(f"/orders/{n}/create-shipment")
    assert resp.status_code == 201
    shipment = resp.json()["order_shipment"]
    assert (shipment["is_shipped"], len(shipment["lines"])) == (False, 3)
    assert api.post(f"/orders/{n}/create-shipment").status_code == 422  # everything is in one
    assert [s["id"] for s in api.get(f"/orders/{n}/shipments").json()["order_shipments"]] == [
        shipment["id"]
    ]
    resp = api.post(f"/orders/shipments/{shipment['id']}/mark-shipped", {"pick": True})
    assert resp.status_code == 200
    assert resp.json()["order_shipment"]["is_shipped"] is True
    assert stock(api, "A-1") == (7, 0, 7)
    assert stock(api, "B-2") == (5, 0, 5)
    shipped = api.get(f"/orders/{n}").json()["order"]
    assert (shipped["is_shipped"], shipped["is_partly_shipped"]) == (True, False)
    assert api.post(f"/orders/{n}/create-shipment").status_code == 422  # already shipped
    assert (
        api.post(f"/orders/shipments/{shipment['id']}/mark-shipped", {"pick": True}).status_code
        == 422
    )

    resp = api.post(f"/orders/{n}/convert-to-invoice", book="true")
    assert resp.status_code == 200
    invoice_id = resp.json()["invoice_id"]
    invoice = api.get(f"/customer-invoices/{invoice_id}").json()["customer_invoice"]
    assert (invoice["is_booked"], invoice["order_id"], invoice["total_total"]) == (True, n, 101.0)
    assert api.get(f"/orders/{n}").json()["order"]["is_invoiced"] is True
    assert api.post(f"/orders/{n}/convert-to-invoice", book="true").status_code == 422
    assert [i["number"] for i in api.get("/customer-invoices").json()["customer_invoices"]] == [
        invoice_id
    ]


def test_reopen_releases_the_reservation_and_drafts_can_be_deleted(
    twin: RackbeatTwin, api: Api
) -> None:
    customer = twin.add_customer("Jane", "jane@example.com")
    n = api.post("/orders", order_payload(customer)).json()["order"]["number"]
    assert api.get(f"/orders/{n}").json()["order"]["is_booked"] is False  # POST /orders = draft too
    assert api.post(f"/orders/{n}/reopen").status_code == 422  # not booked
    api.post(f"/orders/{n}/book")
    assert stock(api, "A-1") == (10, 3, 7)
    assert api.post(f"/orders/{n}/reopen").status_code == 200
    assert stock(api, "A-1") == (10, 0, 10)
    assert api.delete(f"/orders/{n}").status_code == 200
    assert api.get(f"/orders/{n}").status_code == 404


def test_order_validation_over_http(twin: RackbeatTwin, api: Api) -> None:
    twin.add_product("OLD", "Old", 1.0, 1, is_barred=True)
    resp = api.post(
        "/orders/drafts",
        {
            "customer_id": 999,
            "lines": [{"item_id": "OLD", "quantity": 1}, {"name": "x", "quantity": -1}],
        },
    )
    assert resp.status_code == 422
    assert resp.json()["errors"] == {
        "customer_id": ["The selected Customer is invalid."],
        "lines.0.item_id": ["Product 'OLD' is barred."],
        "lines.1.item_id": ["Product needed"],
        "lines.1.quantity": ["The lines.1.quantity must be greater than 0."],
    }


def test_orders_search_other_reference_and_created_since(
    twin: RackbeatTwin, api: Api, now: FakeNow
) -> None:
    customer = twin.add_customer("Jane", "jane@example.com")
    api.post("/orders/drafts", order_payload(customer, other_reference="rackshop:dk:111"))
    now.advance(minutes=10)
    api.post(
        "/orders/drafts",
        order_payload(customer, other_reference="rackshop:dk:222", heading="Second"),
    )
    assert numbers(api.get("/orders", search="rackshop:dk:222"), "orders") == [1002]
    assert numbers(api.get("/orders", search="second"), "orders") == [1002]
    assert numbers(api.get("/orders", created_at_from="2026-03-01 12:05:00"), "orders") == [1002]
    assert numbers(api.get("/orders", **{"simple_filter[number]": "1001"}), "orders") == [1001]
    assert numbers(api.get("/orders", order_by="created_at", order_direction="DESC"), "orders") == [
        1002,
        1001,
    ]


def test_pdf_stubs(twin: RackbeatTwin, api: Api) -> None:
    customer = twin.add_customer("Jane", "jane@example.com")
    n = api.post("/orders/drafts", order_payload(customer)).json()["order"]["number"]
    resp = api.get(f"/orders/{n}.pdf")
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF")
