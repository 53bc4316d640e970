"""The Shopify twin's bulk mutations: stagedUploadsCreate, the upload target,
bulkOperationRunMutation (its refusals, the per-line result file, the concurrency limit, scopes,
the cost it charges)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rackshop.sandbox.base import TwinServer
from rackshop.sandbox.shopify import ShopifyTwin, bulk_mutation
from tests.sandbox.test_shopify_support import SHOP, twin_with

STAGE = """mutation { stagedUploadsCreate(input: [{resource: BULK_MUTATION_VARIABLES,
  filename: "vars.jsonl", mimeType: "text/jsonl", httpMethod: POST}]) {
  stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }"""
RUN = """mutation Run($m: String!, $p: String!, $c: String) {
  bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p, clientIdentifier: $c) {
    bulkOperation { id status type query } userErrors { field message code } } }"""
POLL = """query($id: ID!) { bulkOperation(id: $id) {
  id status type errorCode objectCount rootObjectCount url partialDataUrl } }"""
PRODUCT_SET = """mutation Set($input: ProductSetInput!) {
  productSet(input: $input, synchronous: true) {
    product { id title variants(first: 1) { nodes { id sku } } }
    userErrors { field message code } } }"""


class Api:
    """The twin behind a real server, as a client sees it."""

    def __init__(self, server: TwinServer, version: str = "2026-07") -> None:
        self.server = server
        self.url = f"{server.url}/shops/{SHOP}/admin/api/{version}/graphql.json"

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = requests.post(self.url, json={"query": query, "variables": variables or {}},
                          headers={"X-Shopify-Access-Token": "shpat_test"}, timeout=30)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def stage(self, lines: list[dict[str, Any]] | bytes) -> str:
        body = self.gql(STAGE)
        assert body["data"]["stagedUploadsCreate"]["userErrors"] == []
        (target,) = body["data"]["stagedUploadsCreate"]["stagedTargets"]
        assert target["resourceUrl"] is None
        params = {p["name"]: p["value"] for p in target["parameters"]}
        data = lines if isinstance(lines, bytes) else \
            b"".join(json.dumps(x).encode() + b"\n" for x in lines)
        r = requests.post(target["url"], data=params,
                          files={"file": ("vars.jsonl", data, "text/jsonl")}, timeout=30)
        assert r.status_code == 201, r.text
        return params["key"]

    def run(self, mutation: str, path: str) -> dict[str, Any]:
        out: dict[str, Any] = self.gql(RUN, {"m": mutation, "p": path, "c": "rackshop-test-1"})
        return out

    def finish(self, op_id: str) -> dict[str, Any]:
        for _ in range(20):
            op: dict[str, Any] = self.gql(POLL, {"id": op_id})["data"]["bulkOperation"]
            if op["status"] not in ("CREATED", "RUNNING"):
                return op
        raise AssertionError("the operation did not finish")

    def result(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        r = requests.get(op["url"], timeout=30)
        assert r.status_code == 200
        return [json.loads(x) for x in r.content.splitlines()]


@pytest.fixture
def twin() -> ShopifyTwin:
    return twin_with()


@pytest.fixture
def api(twin: ShopifyTwin) -> Iterator[Api]:
    with TwinServer(twin) as server:
        yield Api(server)


def _product(n: int, sku: str | None = None) -> dict[str, Any]:
    return {"input": {"title": f"Vare {n}", "productOptions": [
        {"name": "Title", "values": [{"name": "Default Title"}]}], "variants": [
        {"optionValues": [{"optionName": "Title", "name": "Default Title"}],
         "sku": sku or f"SKU-{n}", "price": "10.00"}]}}


def test_lines_run_through_the_mutation_and_the_result_has_one_line_each(
        api: Api, twin: ShopifyTwin) -> None:
    lines = [_product(n) for n in range(3)]
    lines.insert(1, {"input": {"title": ""}})  # productSet refuses a blank title: userErrors
    path = api.stage(lines)
    started = api.run(PRODUCT_SET, path)["data"]["bulkOperationRunMutation"]
    assert started["userErrors"] == []
    op = started["bulkOperation"]
    assert (op["status"], op["type"], op["query"]) == ("CREATED", "MUTATION", PRODUCT_SET)
    done = api.finish(op["id"])
    assert (done["status"], done["objectCount"], done["errorCode"]) == ("COMPLETED", "4", None)
    out = api.result(done)
    assert [x["__lineNumber"] for x in out] == [0, 1, 2, 3]
    assert out[0]["data"]["productSet"]["product"]["variants"]["nodes"][0]["sku"] == "SKU-0"
    assert out[1]["data"]["productSet"]["product"] is None
    assert out[1]["data"]["productSet"]["userErrors"]
    assert len(twin.shop(SHOP).products) == 3


def test_a_line_whose_variables_are_refused_has_errors(api: Api) -> None:
    path = api.stage([_product(1), {"input": {"title": 5, "status": "NOPE"}}])
    op = api.run(PRODUCT_SET, path)["data"]["bulkOperationRunMutation"]["bulkOperation"]
    out = api.result(api.finish(op["id"]))
    assert "data" in out[0] and "errors" not in out[0]
    assert out[1]["errors"] and out[1]["__lineNumber"] == 1


@pytest.mark.parametrize(("mutation", "staged", "code"), [
    ("mutation { productSet(", True, "INVALID_MUTATION"),
    ("query { shop { name } }", True, "INVALID_MUTATION"),
    ("mutation { nope(x: 1) { id } }", True, "INVALID_MUTATION"),
    (PRODUCT_SET, False, "NO_SUCH_FILE"),
])
def test_refusals(api: Api, mutation: str, staged: bool, code: str) -> None:
    path = api.stage([_product(1)]) if staged else "tmp/1/bulk/nothing/vars.jsonl"
    got = api.run(mutation, path)["data"]["bulkOperationRunMutation"]
    assert got["bulkOperation"] is None
    assert [e["code"] for e in got["userErrors"]] == [code]


def test_a_file_that_is_not_jsonl_is_refused(api: Api) -> None:
    got = api.run(PRODUCT_SET, api.stage(b"[1, 2]\n"))["data"]["bulkOperationRunMutation"]
    assert [e["code"] for e in got["userErrors"]] == ["INVALID_STAGED_UPLOAD_FILE"]


def test_a_staged_path_nobody_uploaded_to_is_no_such_file(api: Api) -> None:
    body = api.gql(STAGE)
    key = {p["name"]: p["value"] for p in
           body["data"]["stagedUploadsCreate"]["stagedTargets"][0]["parameters"]}["key"]
    got = api.run(PRODUCT_SET, key)["data"]["bulkOperationRunMutation"]
    assert [e["code"] for e in got["userErrors"]] == ["NO_SUCH_FILE"]


def test_the_upload_target_checks_the_signature_and_the_size(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    target = api.gql(STAGE)["data"]["stagedUploadsCreate"]["stagedTargets"][0]
    params = {p["name"]: p["value"] for p in target["parameters"]}
    forged = {**params, "x-goog-signature": "0" * 64}
    r = requests.post(target["url"], data=forged, files={"file": ("v", b"{}\n")}, timeout=10)
    assert r.status_code == 403
    monkeypatch.setitem(api.server.app.shop(SHOP).staged_uploads[params["key"]],  # type: ignore
                        "limit", 10)
    r = requests.post(target["url"], data=params, files={"file": ("v", b"{}\n" * 10)}, timeout=10)
    assert (r.status_code, "EntityTooLarge" in r.text) == (400, True)
    assert bulk_mutation.UPLOAD_LIMIT == 100 * 1024 * 1024


def test_concurrent_bulk_mutations_are_limited_by_version(twin: ShopifyTwin) -> None:
    twin.bulk_polls_to_complete = 100  # nobody's operation finishes while this runs
    twin.bulk_background_seconds = 1e9
    with TwinServer(twin) as server:
        for version, allowed in (("2025-10", 1), ("2026-07", 5)):
            for op in twin.shop(SHOP).bulk_operations.values():
                op["status"] = "COMPLETED"
            api = Api(server, version)
            path = api.stage([_product(1)])
            for _ in range(allowed):
                got = api.run(PRODUCT_SET, path)["data"]["bulkOperationRunMutation"]
                assert got["userErrors"] == []
            refused = api.run(PRODUCT_SET, path)["data"]["bulkOperationRunMutation"]
            assert [e["code"] for e in refused["userErrors"]] == ["OPERATION_IN_PROGRESS"]
            assert refused["bulkOperation"] is None


def test_cost_is_the_two_mutations_not_the_lines(api: Api, twin: ShopifyTwin) -> None:
    path = api.stage([_product(n) for n in range(30)])
    before = twin.shop(SHOP).bucket.status()["currentlyAvailable"]  # type: ignore[union-attr]
    body = api.run(PRODUCT_SET, path)
    assert body["extensions"]["cost"]["actualQueryCost"] == 10
    op = body["data"]["bulkOperationRunMutation"]["bulkOperation"]
    api.finish(op["id"])
    assert len(twin.shop(SHOP).products) == 30
    after = twin.shop(SHOP).bucket.status()["currentlyAvailable"]  # type: ignore[union-attr]
    # 10 for the run and a few points per poll; 30 productSet calls would draw hundreds.
    assert before - after < 60


def test_a_mutation_the_scopes_do_not_cover_fails_the_operation(
        api: Api, twin: ShopifyTwin) -> None:
    path = api.stage([_product(1)])
    twin.shop(SHOP).contract_scopes = ("read_products",)  # type: ignore[attr-defined]
    op = api.run(PRODUCT_SET, path)["data"]["bulkOperationRunMutation"]["bulkOperation"]
    done = api.finish(op["id"])
    assert (done["status"], done["errorCode"]) == ("FAILED", "ACCESS_DENIED")
    assert twin.shop(SHOP).products == {}
