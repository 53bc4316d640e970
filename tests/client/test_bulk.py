"""Bulk query runner against `responses` stubs: start, poll, download, stream; failures."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import requests
import responses
from graphql import parse

from rackshop.errors import ApiContractError, ApiUnavailableError
from rackshop.http import RetryPolicy, Transport
from rackshop.shopify.bulk import (
    BulkOperationFailed,
    bulk_query_text,
    inline_variables,
    run_bulk_query,
)
from rackshop.shopify.client import CostBucket, ShopifyClient, StaticToken
from tests.helpers.fakes import FakeClock

URL = "https://dk.myshopify.test/admin/api/2026-07/graphql.json"
FILE = "https://storage.test/bulk/1.jsonl?signature=abc"
OP = "gid://shopify/BulkOperation/1"
COST = {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                 "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 1990,
                                    "restoreRate": 100}}}

LINES = [
    {"id": "gid://shopify/Product/1", "title": "Tee"},
    {"id": "gid://shopify/ProductVariant/11", "sku": "TEE/1 #M", "__parentId":
     "gid://shopify/Product/1"},
    {"id": "gid://shopify/Product/2", "title": "Æblemost"},
    {"id": "gid://shopify/ProductVariant/12", "sku": "TEE/1 #L", "__parentId":
     "gid://shopify/Product/1"},
]
BODY = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in LINES).encode()


def make(clock: FakeClock, attempts: int = 4) -> ShopifyClient:
    t = Transport("shopify", requests.Session(), policy=RetryPolicy(attempts=attempts),
                  sleep=clock.sleep, rng=random.Random(0))
    return ShopifyClient("dk", URL, StaticToken(lambda: "shpat_fake0123456789"), t,
                         bucket=CostBucket(clock), sleep=clock.sleep)


def gql(data: dict[str, Any]) -> dict[str, Any]:
    return {"json": {"data": data, "extensions": COST}}


def started(user_errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op = None if user_errors else {"id": OP, "status": "CREATED"}
    return gql({"bulkOperationRunQuery": {"bulkOperation": op, "userErrors": user_errors or []}})


def polled(status: str, url: str | None = None, error: str | None = None) -> dict[str, Any]:
    return gql({"bulkOperation": {"id": OP, "status": status, "errorCode": error,
                                  "objectCount": "4", "rootObjectCount": "2", "fileSize": None,
                                  "url": url, "partialDataUrl": None, "createdAt": "x",
                                  "completedAt": None}})


def sent(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


@responses.activate(assert_all_requests_are_fired=True)
def test_run_bulk_query_polls_downloads_and_streams_lines() -> None:
    clock = FakeClock()
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("RUNNING"))
    responses.add(responses.POST, URL, **polled("COMPLETED", FILE))
    responses.add(responses.GET, FILE, body=BODY)
    inner = bulk_query_text("BulkProducts", {"query": "updated_at:>='2026-01-01T00:00:00Z'"})
    lines = list(run_bulk_query(make(clock), inner, poll_delays=(0, 2.0), spool_bytes=64))
    assert lines == LINES  # order kept, unicode intact, spooled to disk past 64 bytes
    calls = responses.calls
    assert len(calls) == 4
    assert sent(calls[0])["variables"]["query"] == inner
    assert "bulkOperationRunQuery" in sent(calls[0])["query"]
    assert sent(calls[1])["variables"] == {"id": OP}
    # The signed file link gets no shop token.
    assert "X-Shopify-Access-Token" not in calls[3].request.headers
    assert clock.sleeps == [2.0]  # first poll at once, then the schedule


@responses.activate(assert_all_requests_are_fired=True)
def test_completed_without_objects_yields_nothing() -> None:
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("COMPLETED", None))
    assert list(run_bulk_query(make(FakeClock()), "{ products { edges { node { id } } } }")) == []


@responses.activate(assert_all_requests_are_fired=True)
def test_waits_while_another_bulk_query_runs() -> None:
    clock = FakeClock()
    busy = [{"field": None, "message": "A bulk query operation for this app and shop is "
             "already in progress", "code": "OPERATION_IN_PROGRESS"}]
    responses.add(responses.POST, URL, **started(busy))
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("COMPLETED", FILE))
    responses.add(responses.GET, FILE, body=BODY)
    assert len(list(run_bulk_query(make(clock), "{ products { edges { node { id } } } }",
                                   poll_delays=(0,)))) == 4
    assert clock.sleeps == [5.0]


@responses.activate(assert_all_requests_are_fired=True)
def test_invalid_inner_query_is_a_contract_error() -> None:
    bad = [{"field": ["query"], "message": "Bulk queries must contain at least one connection.",
            "code": "INVALID"}]
    responses.add(responses.POST, URL, **started(bad))
    with pytest.raises(ApiContractError, match="at least one connection"):
        list(run_bulk_query(make(FakeClock()), "{ shop { name } }"))


@responses.activate(assert_all_requests_are_fired=True)
def test_failed_operation_raises() -> None:
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("FAILED", error="TIMEOUT"))
    with pytest.raises(BulkOperationFailed, match="FAILED \\(TIMEOUT\\)"):
        list(run_bulk_query(make(FakeClock()), "{ products { edges { node { id } } } }",
                            poll_delays=(0,)))


@responses.activate(assert_all_requests_are_fired=True)
def test_download_is_retried_from_the_start() -> None:
    clock = FakeClock()
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("COMPLETED", FILE))
    responses.add(responses.GET, FILE, status=503)
    responses.add(responses.GET, FILE, body=requests.exceptions.ConnectionError("reset"))
    responses.add(responses.GET, FILE, body=BODY)
    lines = list(run_bulk_query(make(clock), "{ products { edges { node { id } } } }",
                                poll_delays=(0,)))
    assert lines == LINES  # nothing yielded twice
    assert len(clock.sleeps) == 2


@responses.activate(assert_all_requests_are_fired=True)
def test_download_gives_up_after_the_policy() -> None:
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("COMPLETED", FILE))
    for _ in range(2):
        responses.add(responses.GET, FILE, status=500)
    with pytest.raises(ApiUnavailableError, match="bulk result file still failing after 2"):
        list(run_bulk_query(make(FakeClock(), attempts=2),
                            "{ products { edges { node { id } } } }", poll_delays=(0,)))


@responses.activate(assert_all_requests_are_fired=True)
def test_a_broken_line_is_a_contract_error() -> None:
    responses.add(responses.POST, URL, **started())
    responses.add(responses.POST, URL, **polled("COMPLETED", FILE))
    responses.add(responses.GET, FILE, body=b'{"id": "x"}\n{"id": \n')
    with pytest.raises(ApiContractError, match="line 2 is not JSON"):
        list(run_bulk_query(make(FakeClock()), "{ products { edges { node { id } } } }",
                            poll_delays=(0,)))


def test_inline_variables_makes_a_variable_free_query() -> None:
    doc = """query Q($query: String, $n: Int, $flag: Boolean!, $ids: [ID!], $o: SomeInput) {
      products(query: $query, first: $n) { edges { node { id } } }
      x(flag: $flag, ids: $ids, o: $o)
    }"""
    text = inline_variables(doc, {"query": "sku:'A \"B\"'", "n": 5, "flag": True,
                                  "ids": ["1", "2"], "o": {"a": 1.5, "b": None}})
    assert "$" not in text
    assert 'query: "sku:\'A \\"B\\"\'"' in text
    assert "first: 5" in text and "flag: true" in text and 'ids: ["1", "2"]' in text
    assert "o: { a: 1.5, b: null }" in text  # None inside a value stays null
    parse(text)


def test_a_missing_variable_leaves_its_argument_out() -> None:
    text = bulk_query_text("BulkProducts")
    assert "products {" in text and "query:" not in text and "$" not in text
    assert "x(flag: true)" in inline_variables("query Q($a: Int, $f: Boolean) { x(a: $a, "
                                               "flag: $f) }", {"f": True})
