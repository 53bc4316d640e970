"""Shopify client against `responses` stubs: pacing, THROTTLED, errors, pagination, tokens."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from rackshop.errors import ApiContractError, AuthError, ShopifyUserErrors
from rackshop.http import RetryPolicy, Transport
from rackshop.shopify.client import (
    ClientCredentialsToken,
    CostBucket,
    ShopifyClient,
    StaticToken,
    ThrottleStatus,
    parse_user_errors,
)
from tests.helpers.fakes import FakeClock

URL = "https://dk.myshopify.test/admin/api/2026-07/graphql.json"
TOKEN_URL = "https://dk.myshopify.test/admin/oauth/access_token"


def cost(requested: float, available: float, maximum: float = 2000, restore: float = 100,
         actual: float | None = None) -> dict[str, Any]:
    return {"cost": {"requestedQueryCost": requested,
                     "actualQueryCost": requested if actual is None else actual,
                     "throttleStatus": {"maximumAvailable": maximum,
                                        "currentlyAvailable": available,
                                        "restoreRate": restore}}}


def make(clock: FakeClock, token: Any = None, attempts: int = 4) -> ShopifyClient:
    t = Transport("shopify", requests.Session(), policy=RetryPolicy(attempts=attempts),
                  sleep=clock.sleep, rng=random.Random(0))
    return ShopifyClient("dk", URL, token or StaticToken(lambda: "shpat_fake0123456789"), t,
                         bucket=CostBucket(clock), sleep=clock.sleep)


@responses.activate(assert_all_requests_are_fired=True)
def test_paces_before_sending_when_bucket_is_short() -> None:
    clock = FakeClock()
    sent_at: list[float] = []

    def reply(available: float) -> Any:
        def cb(request: Any) -> tuple[int, dict[str, str], str]:
            sent_at.append(clock.now)
            return 200, {}, json.dumps({"data": {"shop": {"name": "x"}},
                                        "extensions": cost(100, available, 1000, 50)})
        return cb

    responses.add_callback(responses.POST, URL, callback=reply(5))
    responses.add_callback(responses.POST, URL, callback=reply(900))
    c = make(clock)
    c.query("ShopInfo", {"first": 10})
    assert clock.sleeps == []  # an unknown bucket is assumed full
    c.query("ShopInfo", {"first": 10})
    # the bucket held 5 of the 100 this query costs: (100 - 5) / 50 s before sending
    assert clock.sleeps == [pytest.approx(1.9)]
    assert sent_at[1] - sent_at[0] == pytest.approx(1.9)
    assert c.throttled == 0


@responses.activate(assert_all_requests_are_fired=True)
def test_throttled_then_success_waits_by_restore_rate() -> None:
    clock = FakeClock()
    throttled = {"errors": [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {"requestedQueryCost": 202, "actualQueryCost": None,
                                "throttleStatus": {"maximumAvailable": 2000.0,
                                                   "currentlyAvailable": 118,
                                                   "restoreRate": 100.0}}}}
    responses.post(URL, json=throttled)
    responses.post(URL, json={"data": {"shop": {"name": "x"}}, "extensions": cost(202, 1800)})
    c = make(clock)
    assert c.query("ShopInfo", {"first": 1})["shop"]["name"] == "x"
    assert c.throttled == 1
    assert clock.sleeps[-1] == pytest.approx((202 - 118) / 100)


@responses.activate(assert_all_requests_are_fired=True)
def test_429_throttled_retried() -> None:
    clock = FakeClock()
    responses.post(URL, status=429, headers={"Retry-After": "2.0"})
    responses.post(URL, json={"data": {"shop": {}}, "extensions": cost(1, 1999)})
    make(clock).query("ShopInfo", {"first": 1})
    assert clock.sleeps == [2.0]


@responses.activate(assert_all_requests_are_fired=True)
def test_max_cost_exceeded_is_a_contract_error() -> None:
    responses.post(URL, json={"errors": [{"message": "Query cost is 1502, which exceeds the "
                                          "single query max cost limit (1000).",
                                          "extensions": {"code": "MAX_COST_EXCEEDED",
                                                         "cost": 1502, "maxCost": 1000}}]})
    with pytest.raises(ApiContractError, match="1000"):
        make(FakeClock()).query("ShopInfo", {"first": 250})


@responses.activate(assert_all_requests_are_fired=True)
def test_graphql_errors_in_200_are_errors() -> None:
    responses.post(URL, json={"errors": [{"message": "Field 'nope' doesn't exist on type "
                                          "'Shop'", "extensions": {"code": "undefinedField"}}]})
    with pytest.raises(ApiContractError, match="nope"):
        make(FakeClock()).execute("query { shop { nope } }")


@responses.activate(assert_all_requests_are_fired=True)
def test_user_errors_raise_with_field_and_code() -> None:
    body = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": [
        {"field": ["input", "quantities", "0", "locationId"], "message": "The specified "
         "inventory item is not stocked at the location.", "code": "ITEM_NOT_STOCKED_AT_LOCATION"}
    ]}}, "extensions": cost(10, 1990)}
    responses.post(URL, json=body)
    with pytest.raises(ShopifyUserErrors) as info:
        make(FakeClock()).mutate("ShopInfo", {"first": 1}, root="inventorySetQuantities")
    assert info.value.codes == {"ITEM_NOT_STOCKED_AT_LOCATION"}
    assert "input.quantities.0.locationId" in str(info.value)


@responses.activate(assert_all_requests_are_fired=True)
def test_allowed_user_error_codes_are_returned() -> None:
    body = {"data": {"x": {"userErrors": [{"field": None, "message": "m", "code": "TAKEN"}]}},
            "extensions": cost(10, 1990)}
    responses.post(URL, json=body)
    payload = make(FakeClock()).mutate("ShopInfo", {"first": 1}, root="x", allow_codes=["TAKEN"])
    assert parse_user_errors(payload)[0].code == "TAKEN"


def connection_page(names: list[str], cursor: str | None, has_next: bool) -> dict[str, Any]:
    return {"data": {"locations": {"nodes": [{"id": n, "name": n} for n in names],
                                   "pageInfo": {"hasNextPage": has_next, "endCursor": cursor}}},
            "extensions": cost(12, 1900)}


@responses.activate(assert_all_requests_are_fired=True)
def test_paginate_follows_cursors() -> None:
    responses.post(URL, json=connection_page(["a", "b"], "c1", True))
    responses.post(URL, json=connection_page(["c"], "c2", True))
    responses.post(URL, json=connection_page(["d"], "c3", False))
    got = [n["name"] for n in make(FakeClock()).paginate("Locations", {}, ("locations",),
                                                          page_size=2)]
    assert got == ["a", "b", "c", "d"]
    sent = [json.loads(c.request.body)["variables"] for c in responses.calls]
    assert [v["after"] for v in sent] == [None, "c1", "c2"]
    assert all(v["first"] == 2 for v in sent)


@responses.activate(assert_all_requests_are_fired=True)
def test_paginate_starts_at_the_callers_cursor() -> None:
    """The rest of a connection whose first page came with another query (an order's lines
    past the first page): reading starts after the caller's cursor, not from the start."""
    responses.post(URL, json=connection_page(["c"], "c2", True))
    responses.post(URL, json=connection_page(["d"], "c3", False))
    got = [n["name"] for n in make(FakeClock()).paginate(
        "Locations", {"after": "c1"}, ("locations",), page_size=2)]
    assert got == ["c", "d"]
    sent = [json.loads(c.request.body)["variables"] for c in responses.calls]
    assert [v["after"] for v in sent] == ["c1", "c2"]


@responses.activate(assert_all_requests_are_fired=True)
def test_paginate_callers_cursor_answered_again_is_a_loop() -> None:
    responses.post(URL, json=connection_page(["c"], "c1", True))
    with pytest.raises(ApiContractError, match="cursor 'c1' again"):
        list(make(FakeClock()).paginate("Locations", {"after": "c1"}, ("locations",)))


@responses.activate(assert_all_requests_are_fired=True)
def test_paginate_repeated_cursor_guard() -> None:
    responses.post(URL, json=connection_page(["a"], "same", True))
    responses.post(URL, json=connection_page(["b"], "same", True))
    c = make(FakeClock())
    with pytest.raises(ApiContractError, match="cursor 'same' again"):
        list(c.paginate("Locations", {}, ("locations",)))


@responses.activate(assert_all_requests_are_fired=True)
def test_client_credentials_token_is_cached_and_refreshed() -> None:
    clock = FakeClock()
    responses.post(TOKEN_URL, json={"access_token": "shpat_first000000", "expires_in": 3600})
    responses.post(TOKEN_URL, json={"access_token": "shpat_second00000", "expires_in": 3600})
    for _ in range(3):
        responses.post(URL, json={"data": {"shop": {}}, "extensions": cost(1, 1999)})
    t = Transport("shopify", requests.Session(), sleep=clock.sleep)
    provider = ClientCredentialsToken(TOKEN_URL, "client-id", lambda: "client-secret-xyz", t,
                                      clock=clock, refresh_margin=300)
    c = make(clock, provider)
    c.query("ShopInfo", {"first": 1})
    c.query("ShopInfo", {"first": 1})
    assert provider.fetches == 1
    clock.advance(3400)  # inside the refresh margin
    c.query("ShopInfo", {"first": 1})
    assert provider.fetches == 2
    tokens = [call.request.headers.get("X-Shopify-Access-Token") for call in responses.calls
              if call.request.url == URL]
    assert tokens == ["shpat_first000000", "shpat_first000000", "shpat_second00000"]


@responses.activate(assert_all_requests_are_fired=True)
def test_401_with_client_credentials_refetches_once() -> None:
    clock = FakeClock()
    responses.post(TOKEN_URL, json={"access_token": "shpat_old00000000", "expires_in": 86400})
    responses.post(URL, status=401, json={"errors": "[API] Invalid API key or access token"})
    responses.post(TOKEN_URL, json={"access_token": "shpat_new00000000", "expires_in": 86400})
    responses.post(URL, json={"data": {"shop": {}}, "extensions": cost(1, 1999)})
    t = Transport("shopify", requests.Session(), sleep=clock.sleep)
    provider = ClientCredentialsToken(TOKEN_URL, "id", lambda: "secret-value-1", t, clock=clock)
    make(clock, provider).query("ShopInfo", {"first": 1})
    assert provider.fetches == 2


@responses.activate(assert_all_requests_are_fired=True)
def test_401_with_static_token_is_auth_error() -> None:
    responses.post(URL, status=401, json={"errors": "[API] Invalid API key or access token"})
    with pytest.raises(AuthError):
        make(FakeClock()).query("ShopInfo", {"first": 1})


# -- recorded real responses -------------------------------------------------------------------


def _recorded_bodies(conformance_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every real GraphQL response body in the recordings that carries extensions.cost."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            cost = (node.get("extensions") or {}).get("cost") or {}
            if isinstance(node.get("data"), dict) and "throttleStatus" in cost:
                found.append((where, node))
                return
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    for path in sorted(conformance_dir.glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")), path.name)
    return found


def test_recorded_responses_parse_cost_and_user_errors(conformance_dir: Path) -> None:
    bodies = _recorded_bodies(conformance_dir)
    assert len(bodies) > 50, "the recordings should hold many real responses"
    with_user_errors = 0
    with_errors = 0
    for where, body in bodies:
        clock = FakeClock()
        with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
            rsps.post(URL, json=body)
            c = make(clock)
            if body.get("errors"):
                # top-level GraphQL errors next to data (e.g. a missing @idempotent) are errors
                with pytest.raises(ApiContractError):
                    c.execute("query { shop { name } }", name="recorded")
                with_errors += 1
                continue
            result = c.execute("query { shop { name } }", name="recorded")
        ts = body["extensions"]["cost"]["throttleStatus"]
        status = ThrottleStatus.from_extensions(result.extensions)
        assert status is not None, where
        assert status.available == float(ts["currentlyAvailable"]), where
        assert c.bucket.maximum == float(ts["maximumAvailable"]), where
        assert result.requested_cost == body["extensions"]["cost"]["requestedQueryCost"], where
        for root, payload in body["data"].items():
            if isinstance(payload, dict) and payload.get("userErrors"):
                with_user_errors += 1
                items = parse_user_errors(payload)
                assert [i.message for i in items] == [e["message"]
                                                       for e in payload["userErrors"]], where
                assert [i.code for i in items] == [e.get("code")
                                                   for e in payload["userErrors"]], where
                err = ShopifyUserErrors(root, items)
                assert err.codes == {e["code"] for e in payload["userErrors"] if e.get("code")}
    assert with_user_errors >= 10, "the recordings hold many real userErrors"
    assert with_errors >= 1


def test_reservations_of_requests_in_flight_count_against_the_bucket() -> None:
    clock = FakeClock()
    bucket = CostBucket(clock, maximum=100.0, restore_rate=10.0)
    # alone, a request waits exactly as the reading says
    assert bucket.reserve(60) == 0.0
    # a second one sent while the first is unanswered sees only what is left
    assert bucket.reserve(60) == pytest.approx(2.0)
    bucket.release(60)
    bucket.release(60)
    assert bucket.in_flight == 0.0
    assert bucket.wait_for(60) == 0.0
