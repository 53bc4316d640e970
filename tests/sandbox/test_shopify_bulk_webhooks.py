"""Bulk operations (validation replays, concurrency, JSONL results) and webhooks (subscription
validation replays, signed deliveries, retries)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from rackshop.sandbox.base import Clock, TwinServer
from rackshop.sandbox.shopify import ShopifyTwin
from tests.helpers.fakes import FakeClock
from tests.sandbox.test_shopify_support import (
    SHOP,
    GidMap,
    assert_like,
    load,
    run,
    selection,
    twin_with,
)

RUN_QUERY = """
mutation Run($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status type errorCode objectCount rootObjectCount fileSize url query }
    userErrors { field message code }
  }
}
"""
POLL = """query($id: ID!) {
  bulkOperation(id: $id) { id status objectCount rootObjectCount fileSize url } }"""


# -- bulk validation (recorded) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        "2026-04--bulk-operation-run-query-user-error-codes.json",
        "2026-04--bulk-operation-run-query-validators.json",
    ],
)
def test_bulk_query_validation_matches_shopify(conformance_dir: Path, file: str) -> None:
    rec = load(conformance_dir, file)
    twin = twin_with()
    for name, case in rec["validations"].items():
        got = run(twin, case["query"], case["variables"])
        assert got["data"] == case["response"]["data"], name
    assert twin.shop(SHOP).bulk_operations == {}


def test_bulk_concurrency_limit_and_cancel(conformance_dir: Path) -> None:
    rec = load(conformance_dir, "2026-04--bulk-operation-run-query-concurrency-limit.json")
    twin = twin_with()
    ids = GidMap()
    for call in rec["successfulRuns"]:
        got = run(twin, call["query"], call["variables"])
        assert_like(got["data"], call["response"]["data"], ids)
    sixth = rec["sixthRun"]
    got = run(twin, sixth["query"], sixth["variables"])
    expected = sixth["response"]["data"]["bulkOperationRunQuery"]
    (err,) = got["data"]["bulkOperationRunQuery"]["userErrors"]
    (want,) = expected["userErrors"]
    assert (err["field"], err["code"]) == (want["field"], want["code"])
    recorded_ids = [
        ids.to_recorded[i] for i in sorted(ids.to_recorded, key=lambda g: int(g.rsplit("/", 1)[1]))
    ]
    twin_message = err["message"]
    for twin_id, recorded_id in ids.to_recorded.items():
        twin_message = twin_message.replace(twin_id, recorded_id)
    assert twin_message == want["message"] and len(recorded_ids) == 5
    # Before 2026-01 only one bulk query may run at a time.
    assert "OPERATION_IN_PROGRESS" in json.dumps(
        run(twin, sixth["query"], sixth["variables"], version="2025-10")
    )
    for call in rec["cancelAttempts"]:
        got = run(twin, call["query"], ids.translate(call["variables"]))
        # objectCount: Shopify had counted 1451 products by then; the twin has run nothing yet.
        assert_like(
            got["data"],
            call["response"]["data"],
            ids,
            ignore=frozenset({"objectCount", "rootObjectCount"}),
        )
    for op in twin.shop(SHOP).bulk_operations.values():
        assert op["status"] == "CANCELING"
    for op_id in list(twin.shop(SHOP).bulk_operations):
        got = run(twin, POLL, {"id": op_id})
        assert got["data"]["bulkOperation"]["status"] == "CANCELED"
    got = run(twin, sixth["query"], sixth["variables"])
    assert got["data"]["bulkOperationRunQuery"]["userErrors"] == []


def test_bulk_query_needs_a_known_schema_and_no_page_sizes() -> None:
    twin = twin_with()
    bad_field = "{ products { edges { node { id madeUp } } } }"
    got = run(twin, RUN_QUERY, {"query": bad_field})
    (err,) = got["data"]["bulkOperationRunQuery"]["userErrors"]
    assert err == {
        "field": ["query"],
        "message": "Invalid bulk query: Field 'madeUp' doesn't exist on type 'Product'",
        "code": "INVALID",
    }
    got = run(twin, RUN_QUERY, {"query": "{ products(first: 10) { edges { node { id } } } }"})
    (err,) = got["data"]["bulkOperationRunQuery"]["userErrors"]
    assert err["code"] == "INVALID" and "pagination" in err["message"]


# -- bulk results ------------------------------------------------------------------------------


def _catalogue(twin: ShopifyTwin, n: int) -> None:
    for i in range(n):
        twin.create_product(
            SHOP,
            title=f"Product {i:03d}",
            options=["Size"],
            variants=[
                {"sku": f"P{i:03d}-S", "options": ["S"], "stock": {"Shop location": i}},
                {"sku": f"P{i:03d}-L", "options": ["L"]},
            ],
        )


def test_bulk_query_runs_over_everything_and_serves_jsonl() -> None:
    twin = twin_with()
    _catalogue(twin, 300)
    inner = """
    { products(query: "status:active") { edges { node { id title
        variants { edges { node { id sku
          inventoryItem { id tracked measurement { weight { value } } } } } } } } } }
    """
    with TwinServer(twin) as server:
        url = f"{server.url}/shops/{SHOP}/admin/api/2026-07/graphql.json"
        headers = {"X-Shopify-Access-Token": "shpat_test"}

        def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            r = requests.post(
                url, json={"query": query, "variables": variables}, headers=headers, timeout=10
            )
            assert r.status_code == 200
            return r.json()  # type: ignore[no-any-return]

        started = post(RUN_QUERY, {"query": inner})["data"]["bulkOperationRunQuery"]
        assert started["userErrors"] == []
        op = started["bulkOperation"]
        assert (op["status"], op["objectCount"], op["url"]) == ("CREATED", "0", None)
        first = post(POLL, {"id": op["id"]})["data"]["bulkOperation"]
        assert first["status"] == "RUNNING"
        done = post(POLL, {"id": op["id"]})["data"]["bulkOperation"]
        assert done["status"] == "COMPLETED"
        assert (done["objectCount"], done["rootObjectCount"]) == ("900", "300")
        assert done["url"].startswith(server.url + f"/shops/{SHOP}/bulk/")
        r = requests.get(done["url"], timeout=10)
        assert r.status_code == 200
        assert int(done["fileSize"]) == len(r.content)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 900
    assert lines[0]["title"] == "Product 000" and "__parentId" not in lines[0]
    assert "variants" not in lines[0]
    assert lines[1] == {
        "id": lines[1]["id"],
        "sku": "P000-S",
        "inventoryItem": {
            "id": lines[1]["inventoryItem"]["id"],
            "tracked": True,
            "measurement": {"weight": {"value": 0.0}},
        },
        "__parentId": lines[0]["id"],
    }
    assert lines[2]["__parentId"] == lines[0]["id"] and lines[3]["title"] == "Product 001"


def test_bulk_completes_after_a_twin_time_delay() -> None:
    fake = FakeClock()
    twin = ShopifyTwin(Clock(monotonic=fake))
    twin.add_shop(SHOP, token="shpat_test", locations=("Shop location",))
    twin.bulk_delay = 30.0
    _catalogue(twin, 2)
    started = run(twin, RUN_QUERY, {"query": "{ products { edges { node { id } } } }"})
    op_id = started["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    for _ in range(3):
        assert run(twin, POLL, {"id": op_id})["data"]["bulkOperation"]["status"] == "RUNNING"
    fake.advance(30)
    polled = run(
        twin,
        '{ bulkOperations(first: 5, query: "status:completed") '
        "{ nodes { id status objectCount } } }",
    )
    assert polled["data"]["bulkOperations"]["nodes"] == [
        {"id": op_id, "status": "COMPLETED", "objectCount": "2"}
    ]


# -- webhook subscriptions (recorded) ----------------------------------------------------------


CREATE = """
mutation Create($topic: WebhookSubscriptionTopic!,
                $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) { %s }
}
"""
UPDATE = """
mutation Update($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) { %s }
}
"""
DELETE = "mutation Delete($id: ID!) { webhookSubscriptionDelete(id: $id) { %s } }"
DETAIL = "query Detail($id: ID!) { webhookSubscription(id: $id) { %s } }"
SUB_FIELDS = (
    "id topic format includeFields metafieldNamespaces filter createdAt updatedAt "
    "endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }"
)


def _doc_for(path: str, expected: dict[str, Any]) -> str:
    if "detail" in path:
        return DETAIL % SUB_FIELDS
    payload_key = next(iter(expected))
    sel = selection(expected[payload_key], defaults={"webhookSubscription": SUB_FIELDS})
    sel = sel.replace(
        "endpoint { __typename callbackUrl }",
        "endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }",
    )
    if "Create" in path:
        return CREATE % sel
    if "Update" in path:
        return UPDATE % sel
    assert "Delete" in path, path
    return DELETE % sel


def _replay_section(twin: ShopifyTwin, ids: GidMap, section: dict[str, Any]) -> None:
    for name, call in section.items():
        if not isinstance(call, dict) or "documentPath" not in call:
            continue
        if call["documentPath"].startswith("inline:"):
            continue  # customerCreate: outside the twin
        expected = call["response"]["payload"]["data"]
        variables = ids.translate(call["variables"])
        got = run(twin, _doc_for(call["documentPath"], expected), variables)
        assert "errors" not in got, (name, got.get("errors"))
        assert_like(got["data"], expected, ids, path=name)


def test_webhook_subscription_lifecycle_and_validation(conformance_dir: Path) -> None:
    rec = load(conformance_dir, "2026-04--webhook-subscription-conformance.json")
    twin = twin_with()
    twin.webhooks.background = False
    ids = GidMap()
    for section in ("lifecycle", "filterDefault", "filterValidation", "updateValidation"):
        _replay_section(twin, ids, rec[section])
    validation = rec["validation"]["response"]["payload"]["data"]
    doc = """
    mutation($unknownId: ID!, $unknownUpdateInput: WebhookSubscriptionInput!) {
      updateUnknown: webhookSubscriptionUpdate(
          id: $unknownId, webhookSubscription: $unknownUpdateInput) {
        webhookSubscription { id } userErrors { field message } }
      deleteUnknown: webhookSubscriptionDelete(id: $unknownId) {
        deletedWebhookSubscriptionId userErrors { field message } }
      createMissingUri: webhookSubscriptionCreate(
          topic: SHOP_UPDATE, webhookSubscription: {format: JSON}) {
        webhookSubscription { id } userErrors { field message } }
    }"""
    got = run(twin, doc, rec["validation"]["variables"])
    assert got["data"] == validation


def test_webhook_addresses_stay_on_this_machine() -> None:
    """Shopify accepts any https:// address; the twin does too but never sends to one that is
    not on this machine (the delivery is recorded as withheld)."""
    twin = twin_with()
    twin.webhooks.background = False
    doc = CREATE % "webhookSubscription { id uri } userErrors { field message }"
    got = run(
        twin,
        doc,
        {"topic": "PRODUCTS_UPDATE", "webhookSubscription": {"uri": "https://example.com/hook"}},
    )
    created = got["data"]["webhookSubscriptionCreate"]
    assert created["userErrors"] == []
    assert created["webhookSubscription"]["uri"] == "https://example.com/hook"
    twin.create_product(SHOP, title="Hook", variants=[{}])
    pid = next(iter(twin.shop(SHOP).products))
    run(
        twin,
        "mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { userErrors"
        " { message } } }",
        {"p": {"id": pid, "title": "Hooked"}},
    )
    deliveries = twin.shop(SHOP).deliveries
    assert [d["status"] for d in deliveries] == ["withheld"]
    assert twin.webhooks.pending() == 0
    assert twin.webhooks.deliver_due() == 0
    for uri, message in (
        ("http://example.com/hook", "Address protocol http:// is not supported"),
        ("ftp://127.0.0.1/hook", "Address protocol ftp:// is not supported"),
    ):
        got = run(twin, doc, {"topic": "PRODUCTS_UPDATE", "webhookSubscription": {"uri": uri}})
        errors = got["data"]["webhookSubscriptionCreate"]["userErrors"]
        assert errors and errors[0]["message"].startswith(message), uri
    got = run(
        twin,
        doc,
        {"topic": "PRODUCTS_UPDATE", "webhookSubscription": {"uri": "http://localhost:8000/h"}},
    )
    assert got["data"]["webhookSubscriptionCreate"]["userErrors"] == []
    again = run(
        twin,
        doc,
        {"topic": "PRODUCTS_UPDATE", "webhookSubscription": {"uri": "http://localhost:8000/h"}},
    )
    assert again["data"]["webhookSubscriptionCreate"]["userErrors"] == [
        {
            "field": ["webhookSubscription", "callbackUrl"],
            "message": "Address for this topic has already been taken",
        }
    ]


def test_webhook_topic_and_input_errors_as_recorded(conformance_dir: Path) -> None:
    twin = twin_with()
    rec = load(conformance_dir, "2026-04--webhook-subscription-topic-enum-validation.json")[
        "validation"
    ]
    docs = {
        "createBogusTopicRejected": (
            "mutation WebhookSubscriptionBogusTopic {\n  webhookSubscriptionCreate("
            "topic: NOT_A_REAL_TOPIC, "
            'webhookSubscription: {uri: "http://127.0.0.1:9/x"}) { userErrors { field } } }'
        ),
        "createHiddenTopicRejected": (
            "mutation WebhookSubscriptionHiddenTopic {\n  webhookSubscriptionCreate("
            "topic: CUSTOMER_INTERACTIONS, "
            'webhookSubscription: {uri: "http://127.0.0.1:9/x"}) { userErrors { field } } }'
        ),
        "createBogusVariableTopicRejected": (
            "mutation WebhookSubscriptionCreate(\n  $topic: WebhookSubscriptionTopic!, "
            "$webhookSubscription: WebhookSubscriptionInput!) {\n  "
            "webhookSubscriptionCreate(topic: $topic, "
            "webhookSubscription: $webhookSubscription) { userErrors { field } } }"
        ),
    }
    for name, doc in docs.items():
        got = run(twin, doc, rec[name]["variables"])
        (g,) = got["errors"]
        (w,) = rec[name]["response"]["payload"]["errors"]
        assert g["message"] == w["message"], name
        assert g.get("path") == w.get("path"), name
        # the topics listed are 2026-04's, as the request's version has them
        assert g["extensions"] == w["extensions"], name
    # a topic 2026-07 added is refused on 2026-04 with the same problem, offered on 2026-07
    doc = docs["createBogusVariableTopicRejected"]
    newer = {"topic": "INVENTORY_TRANSFERS_UPDATED",
             "webhookSubscription": {"uri": "http://127.0.0.1:9/x"}}
    (g,) = run(twin, doc, newer)["errors"]
    (problem,) = g["extensions"]["problems"]
    (recorded,) = rec["createBogusVariableTopicRejected"]["response"]["payload"]["errors"]
    assert problem["explanation"] == recorded["extensions"]["problems"][0][
        "explanation"
    ].replace('"NOT_A_REAL_TOPIC"', '"INVENTORY_TRANSFERS_UPDATED"')
    made = run(twin, doc, newer, version="2026-07")["data"]["webhookSubscriptionCreate"]
    assert made["userErrors"] == []
    (g,) = run(twin, doc, rec["createBogusVariableTopicRejected"]["variables"],
               version="2026-07")["errors"]
    assert "INVENTORY_TRANSFERS_UPDATED" in g["extensions"]["problems"][0]["explanation"]
    conf = load(conformance_dir, "2026-04--webhook-subscription-conformance.json")[
        "graphqlValidation"
    ]
    docs = {
        "missingCreateTopic": (
            "mutation MissingCreateWebhookTopic {\n  webhookSubscriptionCreate("
            "webhookSubscription: "
            '{uri: "http://127.0.0.1:9/x"}) { userErrors { field } } }'
        ),
        "nullUpdateInput": (
            "mutation NullUpdateWebhookInput {\n  webhookSubscriptionUpdate("
            'id: "gid://shopify/WebhookSubscription/1", '
            "webhookSubscription: null) { userErrors { field } } }"
        ),
    }
    for name, doc in docs.items():
        got = run(twin, doc)
        (g,) = got["errors"]
        (w,) = conf[name]["response"]["payload"]["errors"]
        assert (g["message"], g["extensions"], g["path"], g["locations"]) == (
            w["message"],
            w["extensions"],
            w["path"],
            w["locations"],
        ), name


# -- webhook deliveries ------------------------------------------------------------------------


class _Receiver:
    """A local HTTP endpoint that records what it gets and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    with _Receiver() as r:
        yield r


def _subscribe(twin: ShopifyTwin, topic: str, uri: str) -> None:
    got = run(
        twin,
        CREATE % "userErrors { field message }",
        {"topic": topic, "webhookSubscription": {"uri": uri}},
    )
    assert got["data"]["webhookSubscriptionCreate"]["userErrors"] == []


def test_signed_deliveries_from_the_background_thread(receiver: _Receiver) -> None:
    twin = ShopifyTwin(api_secret="s3cret")
    twin.add_shop(SHOP, token="shpat_test", locations=("Shop location",))
    try:
        pid = twin.create_product(
            SHOP, title="Mug", variants=[{"sku": "MUG", "stock": {"Shop location": 3}}]
        )
        _subscribe(twin, "PRODUCTS_UPDATE", receiver.url)
        got = run(
            twin,
            "mutation($p: ProductUpdateInput!) "
            "{ productUpdate(product: $p) { userErrors { field } } }",
            {"p": {"id": pid, "title": "Blue mug"}},
        )
        assert got["data"]["productUpdate"]["userErrors"] == []
        assert receiver.event.wait(5)
    finally:
        twin.close()
    headers, body = receiver.received[0]
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert headers["X-Shopify-Hmac-Sha256"] == expected
    assert headers["X-Shopify-Topic"] == "products/update"
    assert headers["X-Shopify-Shop-Domain"] == f"{SHOP}.myshopify.com"
    assert headers["X-Shopify-API-Version"] == "2026-04"
    assert (
        headers["X-Shopify-Webhook-Id"]
        and headers["X-Shopify-Event-Id"]
        and headers["X-Shopify-Triggered-At"]
    )
    payload = json.loads(body)
    assert payload["admin_graphql_api_id"] == pid
    assert payload["id"] == int(pid.rsplit("/", 1)[1])
    assert payload["title"] == "Blue mug"
    assert (
        payload["variants"][0]["sku"] == "MUG" and payload["variants"][0]["inventory_quantity"] == 3
    )


def test_failed_deliveries_are_retried_with_backoff_on_twin_time() -> None:
    fake = FakeClock()
    twin = ShopifyTwin(Clock(monotonic=fake))
    twin.add_shop(SHOP, token="shpat_test", locations=("Shop location",))
    twin.webhooks.background = False
    twin.webhooks.max_attempts = 3
    pid = twin.create_product(
        SHOP, title="Mug", variants=[{"sku": "MUG", "stock": {"Shop location": 3}}]
    )
    shop = twin.shop(SHOP)
    item = shop.variants[shop.products[pid]["variantIds"][0]]["inventoryItemId"]
    loc = next(iter(shop.locations))
    with _Receiver([500, 503, 200]) as r:
        _subscribe(twin, "INVENTORY_LEVELS_UPDATE", r.url)
        twin.set_available(SHOP, item, loc, 7)
        assert twin.webhooks.deliver_due() == 1  # 500
        assert twin.webhooks.deliver_due() == 0  # not due yet: 1 twin-second backoff
        fake.advance(1)
        assert twin.webhooks.deliver_due() == 1  # 503, next in 2 twin-seconds
        fake.advance(1.5)
        assert twin.webhooks.deliver_due() == 0
        fake.advance(0.5)
        assert twin.webhooks.deliver_due() == 1  # 200
    (delivery,) = shop.deliveries
    assert delivery["status"] == "delivered"
    assert [x["status"] for x in delivery["responses"]] == [500, 503, 200]
    ids = {h["X-Shopify-Webhook-Id"] for h, _ in r.received}
    assert len(ids) == 1  # retries repeat the same delivery
    body = json.loads(r.received[-1][1])
    assert body["available"] == 7 and body["admin_graphql_api_id"].startswith(
        "gid://shopify/InventoryLevel/"
    )
    snapshot = twin.snapshot()["shops"][SHOP]["webhookDeliveries"]
    assert snapshot[0]["attempts"] == 3


def test_deliveries_give_up_after_the_attempt_limit() -> None:
    fake = FakeClock()
    twin = ShopifyTwin(Clock(monotonic=fake))
    twin.add_shop(SHOP, token="shpat_test", locations=("Shop location",))
    twin.webhooks.background = False
    twin.webhooks.max_attempts = 2
    _subscribe(twin, "PRODUCTS_CREATE", "http://127.0.0.1:9/closed")  # nothing listens on port 9
    run(twin, PRODUCT_CREATE_DOC, {"p": {"title": "X"}})
    assert twin.webhooks.deliver_due() == 1
    fake.advance(10)
    assert twin.webhooks.deliver_due() == 1
    fake.advance(100)
    assert twin.webhooks.deliver_due() == 0
    (delivery,) = twin.shop(SHOP).deliveries
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    assert delivery["responses"][0]["status"] is None


PRODUCT_CREATE_DOC = (
    "mutation($p: ProductCreateInput!) { productCreate(product: $p) { userErrors { field } } }"
)


def test_bulk_query_on_draft_orders_is_accepted_and_runs() -> None:
    """Recorded (bulk-operation-run-query-schema-roots): Shopify accepts a bulk query on
    draftOrders; the twin makes no draft orders, so it completes with no objects."""
    twin = twin_with()
    twin.webhooks.background = False
    inner = "{ draftOrders { edges { node { id warnings { message } } } } }"
    doc = """mutation($q: String!) { bulkOperationRunQuery(query: $q) {
      bulkOperation { id status } userErrors { field message code } } }"""
    got = run(twin, doc, {"q": inner})["data"]["bulkOperationRunQuery"]
    assert got["userErrors"] == [] and got["bulkOperation"]["status"] == "CREATED"
    poll = "query($id: ID!) { bulkOperation(id: $id) { status objectCount } }"
    for _ in range(3):
        op = run(twin, poll, {"id": got["bulkOperation"]["id"]})["data"]["bulkOperation"]
    assert op == {"status": "COMPLETED", "objectCount": "0"}
