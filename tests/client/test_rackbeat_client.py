"""Rackbeat client against `responses` stubs: pagination, 422, 404, encoding, the limiter."""

from __future__ import annotations

import random

import pytest
import requests
import responses
from responses import matchers

from rackshop.errors import ApiContractError, NotFoundError, OutcomeUnknownError, ValidationError
from rackshop.http import RetryPolicy, Transport
from rackshop.rackbeat.client import RackbeatClient, RateLimiter, encode_number, list_key
from tests.helpers.fakes import FakeClock

BASE = "https://app.rackbeat.test/api/"


def client(clock: FakeClock, limiter: RateLimiter | None = None) -> RackbeatClient:
    t = Transport("rackbeat", requests.Session(), policy=RetryPolicy(attempts=3),
                  sleep=clock.sleep, rng=random.Random(0),
                  before_send=limiter.acquire if limiter else None)
    return RackbeatClient(BASE, lambda: "rb-secret-token-123", t, limiter=limiter)


def page(n: int, pages: int, items: list[dict[str, object]]) -> dict[str, object]:
    return {"products": items, "page": n, "pages": pages, "limit": 2, "total": 5}


@responses.activate(assert_all_requests_are_fired=True)
def test_206_pagination_across_pages() -> None:
    clock = FakeClock()
    for n, items in enumerate([[{"number": "A"}, {"number": "B"}], [{"number": "C"},
                               {"number": "D"}], [{"number": "E"}]], start=1):
        responses.get(BASE + "products", status=206, json=page(n, 3, items),
                      match=[matchers.query_param_matcher({"page": str(n), "limit": "2",
                                                           "updated_at_from": "2026-01-01"})])
    c = client(clock)
    got = [p["number"] for p in c.iter_list("products", {"updated_at_from": "2026-01-01"},
                                            page_size=2)]
    assert got == ["A", "B", "C", "D", "E"]
    assert c.transport.calls == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_empty_list_with_zero_pages_stops() -> None:
    responses.get(BASE + "customers", status=206,
                  json={"customers": [], "page": 1, "pages": 0, "limit": 1000, "total": 0})
    assert client(FakeClock()).list_all("customers") == []


@responses.activate(assert_all_requests_are_fired=True)
def test_bearer_auth_header_sent() -> None:
    responses.get(BASE + "self", json={"user_account": {"company_name": "ACME"}},
                  match=[matchers.header_matcher({"Authorization": "Bearer rb-secret-token-123"})])
    assert client(FakeClock()).self_info()["user_account"]["company_name"] == "ACME"


@responses.activate(assert_all_requests_are_fired=True)
def test_422_carries_field_errors() -> None:
    responses.post(BASE + "orders/drafts", status=422, json={
        "message": "The given data was invalid.",
        "errors": {"lines.0.item_id": ["Product needed"], "customer_id": ["The selected "
                                                                           "Customer is invalid."]},
    })
    with pytest.raises(ValidationError) as info:
        client(FakeClock()).create("orders", {"customer_id": 1}, path="orders/drafts")
    assert info.value.fields["lines.0.item_id"] == ["Product needed"]
    assert "customer_id" in str(info.value)


@responses.activate(assert_all_requests_are_fired=True)
def test_item_number_is_encoded_once_and_404_is_not_found() -> None:
    responses.get(BASE + "products/AB%2F12%20%2334", status=404, json={"message": "Not found"})
    with pytest.raises(NotFoundError):
        client(FakeClock()).get_one("products", "AB/12 #34")
    assert responses.calls[0].request.url == BASE + "products/AB%2F12%20%2334"


def test_encode_number() -> None:
    assert encode_number("A/1 #2") == "A%2F1%20%232"
    assert encode_number(1001) == "1001"
    assert encode_number("æøå") == "%C3%A6%C3%B8%C3%A5"


def test_list_keys_are_per_endpoint() -> None:
    assert list_key("inventory-adjustments") == "inventory_regulations"
    assert list_key("customers/17/contacts") == "customer_contacts"
    with pytest.raises(ApiContractError):
        list_key("no-such-thing")


@responses.activate(assert_all_requests_are_fired=True)
def test_create_lost_answer_is_outcome_unknown() -> None:
    responses.post(BASE + "customers", status=504)
    with pytest.raises(OutcomeUnknownError):
        client(FakeClock()).create("customers", {"name": "x"})


@responses.activate(assert_all_requests_are_fired=True)
def test_limiter_paces_requests_without_real_sleep() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock, sleep=clock.sleep, window=60.0)
    for _ in range(5):
        responses.get(BASE + "self", json={})
    c = client(clock, limiter)
    for _ in range(5):
        c.self_info()
    # three fit in the first window; the fourth waits for the first to leave it
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(60.0)
    assert limiter.waited >= 60.0


@responses.activate(assert_all_requests_are_fired=True)
def test_429_from_server_is_retried() -> None:
    clock = FakeClock()
    responses.get(BASE + "locations", status=429)
    responses.get(BASE + "locations", status=206, json={"locations": [{"number": 1}],
                                                        "page": 1, "pages": 1})
    assert client(clock).locations() == [{"number": 1}]
    assert clock.sleeps and clock.sleeps[0] >= 1.0


# -- line_price read as the line's total (check --contract recorded it; issue 16) --------------


@responses.activate(assert_all_requests_are_fired=True)
def test_line_prices_go_out_as_totals_and_come_back_as_unit_prices() -> None:
    line = {"item_id": "A", "quantity": 3, "line_price": 9.99, "discount_percentage": 10}
    responses.post(BASE + "orders/drafts", status=201,
                   match=[matchers.json_params_matcher(
                       {"customer_id": 1, "lines": [{**line, "line_price": 29.97}]})],
                   json={"order": {"number": 7, "total_subtotal": 26.97,
                                   "lines": [{**line, "line_price": 29.97, "line_total": 26.97}]}})
    responses.put(BASE + "orders/7/lines/5", status=200,
                  match=[matchers.json_params_matcher({**line, "quantity": 2,
                                                       "line_price": 19.98})],
                  json={"order_line": {**line, "quantity": 2, "line_price": 19.98}})
    responses.get(BASE + "customer-invoices", status=206,
                  json={"customer_invoices": [{"number": 9, "lines": [
                      {"quantity": 3, "line_price": 10}, {"quantity": 0, "line_price": 4}]}],
                      "page": 1, "pages": 1, "limit": 1000, "total": 1})
    responses.get(BASE + "products/A", status=200,
                  json={"product": {"number": "A", "quantity": 3, "line_price": 5}})
    c = client(FakeClock())
    c.line_price_is_total = True
    created = c.create("orders", {"customer_id": 1, "lines": [line]}, path="orders/drafts")
    assert created["lines"][0]["line_price"] == 9.99 and created["total_subtotal"] == 26.97
    changed = c.request("PUT", "orders/7/lines/5", body={**line, "quantity": 2})
    assert changed["order_line"]["line_price"] == 9.99
    [invoice] = c.list_all("customer-invoices")
    # 10 / 3 to 6 places; a line without units is left as it is
    assert [ln["line_price"] for ln in invoice["lines"]] == [3.333333, 4]
    assert c.get_one("products", "A")["line_price"] == 5  # not an order or invoice line


def test_line_price_conversion_is_exact_and_leaves_the_body_alone() -> None:
    from rackshop.rackbeat.client import line_prices_as_totals, line_prices_as_units

    body = {"lines": [{"quantity": 7, "line_price": 26.664}, {"name": "no price"}]}
    out = line_prices_as_totals(body)
    assert out["lines"] == [{"quantity": 7, "line_price": 186.648}, {"name": "no price"}]
    assert body["lines"][0]["line_price"] == 26.664  # the caller's body is not changed
    assert line_prices_as_units(out) == body
    assert line_prices_as_totals({"quantity": "x", "line_price": 1}) == {"quantity": "x",
                                                                         "line_price": 1}
