"""Eventual consistency, an option of the Shopify twin (off by default): search and derived totals
trail writes, bulk operations take time, cancels pass through CANCELING. Twin time is a fake
clock, so nothing sleeps."""

from __future__ import annotations

from typing import Any

import pytest

from rackshop.sandbox.base import Clock
from rackshop.sandbox.shopify import ShopifyTwin
from tests.helpers.fakes import FakeClock
from tests.sandbox.test_shopify_support import SHOP, run

FIND = "query($q: String!) { products(first: 5, query: $q) { nodes { id title } } }"
COUNT = "query($q: String!) { productsCount(query: $q) { count } }"
CREATE = """mutation($input: ProductSetInput!) {
  productSet(input: $input, synchronous: true) { product { id } userErrors { message } } }"""
UPDATE = """mutation($p: ProductUpdateInput!) {
  productUpdate(product: $p) { product { id } userErrors { message } } }"""
TOTAL = "query($id: ID!) { product(id: $id) { totalInventory } }"
RUN = """mutation { bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") {
  bulkOperation { id status } userErrors { message } } }"""
POLL = "query($id: ID!) { bulkOperation(id: $id) { status objectCount } }"
CANCEL = """mutation($id: ID!) { bulkOperationCancel(id: $id) {
  bulkOperation { status } userErrors { message } } }"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _twin(clock: FakeClock, *, enabled: bool = True) -> ShopifyTwin:
    twin = ShopifyTwin(Clock(monotonic=clock))
    twin.add_shop(SHOP, token="shpat_test", currency="CAD", locations=("Shop location",))
    twin.webhooks.background = False
    twin.consistency.update({"enabled": enabled, "search_lag": 2, "derived_lag": 2})
    return twin


def _create(twin: ShopifyTwin, title: str, sku: str) -> str:
    got = run(
        twin,
        CREATE,
        {
            "input": {
                "title": title,
                "productOptions": [{"name": "Title", "values": [{"name": "Default Title"}]}],
                "variants": [
                    {"sku": sku, "optionValues": [{"optionName": "Title", "name": "Default Title"}]}
                ],
            }
        },
    )
    assert got["data"]["productSet"]["userErrors"] == [], got
    return str(got["data"]["productSet"]["product"]["id"])


def _titles(twin: ShopifyTwin, query: str) -> list[str]:
    return [n["title"] for n in run(twin, FIND, {"q": query})["data"]["products"]["nodes"]]


def test_off_by_default_reads_see_writes_at_once(clock: FakeClock) -> None:
    twin = ShopifyTwin(Clock(monotonic=clock))
    twin.add_shop(SHOP, token="t", locations=("Shop location",))
    assert twin.consistency.enabled is False
    _create(twin, "Fresh", "SKU-1")
    assert _titles(twin, "title:Fresh") == ["Fresh"]


def test_search_does_not_find_a_new_product_until_the_lag_has_passed(clock: FakeClock) -> None:
    twin = _twin(clock)
    pid = _create(twin, "Fresh", "SKU-1")
    assert _titles(twin, "title:Fresh") == []
    assert run(twin, COUNT, {"q": "title:Fresh"})["data"]["productsCount"]["count"] == 0
    # a read by id is not a search: it sees the write at once
    assert (
        run(twin, "query($id: ID!) { product(id: $id) { title } }", {"id": pid})["data"]["product"][
            "title"
        ]
        == "Fresh"
    )
    clock.advance(2.5)
    assert _titles(twin, "title:Fresh") == ["Fresh"]
    assert run(twin, COUNT, {"q": "title:Fresh"})["data"]["productsCount"]["count"] == 1


def test_search_matches_the_old_version_right_after_an_update(clock: FakeClock) -> None:
    twin = _twin(clock)
    pid = _create(twin, "Before", "SKU-1")
    clock.advance(3)
    run(twin, UPDATE, {"p": {"id": pid, "title": "After"}})
    assert _titles(twin, "title:After") == []
    # found by its old title, and answered as it is now
    assert _titles(twin, "title:Before") == ["After"]
    clock.advance(3)
    assert _titles(twin, "title:After") == ["After"]
    assert _titles(twin, "title:Before") == []


SET_STOCK = """mutation($input: ProductSetInput!) {
  productSet(input: $input, synchronous: true) { product { id totalInventory } } }"""


def _set_stock(twin: ShopifyTwin, location: str, quantity: int, pid: str | None = None) -> Any:
    variant = {
        "optionValues": [{"optionName": "Title", "name": "Default Title"}],
        "inventoryItem": {"tracked": True},
        "inventoryQuantities": [
            {"locationId": location, "name": "available", "quantity": quantity}
        ],
    }
    given: dict[str, Any] = {
        "title": "Set",
        "productOptions": [{"name": "Title", "values": [{"name": "Default Title"}]}],
        "variants": [variant],
    }
    if pid:
        given["id"] = pid
    return run(twin, SET_STOCK, {"input": given})["data"]["productSet"]["product"]


def test_total_inventory_lags_a_product_sets_quantity_change(clock: FakeClock) -> None:
    """Recorded (product-set-parity): an updating productSet that sets 10 answers 7, and so does
    a read right after it."""
    twin = _twin(clock)
    location = next(iter(twin.shop(SHOP).locations))
    pid = _set_stock(twin, location, 7)["id"]
    clock.advance(5)
    assert _set_stock(twin, location, 10, pid)["totalInventory"] == 7
    assert run(twin, TOTAL, {"id": pid})["data"]["product"]["totalInventory"] == 7
    clock.advance(2.5)
    assert run(twin, TOTAL, {"id": pid})["data"]["product"]["totalInventory"] == 10


def test_total_inventory_shows_an_inventory_mutation_at_once(clock: FakeClock) -> None:
    """Recorded (inventory-quantity-contracts): a read in the same second as
    inventorySetQuantities, inventoryAdjustQuantities and inventorySetOnHandQuantities shows the
    total they make (9)."""
    twin = _twin(clock)
    location = next(iter(twin.shop(SHOP).locations))
    pid = _set_stock(twin, location, 7)["id"]
    item = twin.shop(SHOP).variants[twin.shop(SHOP).products[pid]["variantIds"][0]]
    clock.advance(0.5)
    got = run(
        twin,
        """mutation($input: InventorySetQuantitiesInput!) {
      inventorySetQuantities(input: $input) @idempotent(key: "at-once") {
        userErrors { message } } }""",
        {
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [
                    {
                        "inventoryItemId": item["inventoryItemId"],
                        "locationId": location,
                        "quantity": 10,
                        "changeFromQuantity": 7,
                    }
                ],
            }
        },
    )
    assert got["data"]["inventorySetQuantities"]["userErrors"] == []
    assert run(twin, TOTAL, {"id": pid})["data"]["product"]["totalInventory"] == 10


def _bulk(twin: ShopifyTwin) -> str:
    got = run(twin, RUN)["data"]["bulkOperationRunQuery"]
    assert got["userErrors"] == [] and got["bulkOperation"]["status"] == "CREATED"
    return str(got["bulkOperation"]["id"])


def _poll(twin: ShopifyTwin, op: str) -> dict[str, Any]:
    return run(twin, POLL, {"id": op})["data"]["bulkOperation"]  # type: ignore[no-any-return]


def test_bulk_operation_goes_created_running_completed_in_time(clock: FakeClock) -> None:
    twin = _twin(clock)
    twin.consistency.update({"bulk_start": 1, "bulk_seconds_per_object": 0.5,
                             "bulk_min_seconds": 1})  # fmt: skip
    location = next(iter(twin.shop(SHOP).locations))
    for n in range(4):
        twin.create_product(SHOP, title=f"P{n}", variants=[{"stock": {location: 1}}])
    op = _bulk(twin)
    assert _poll(twin, op) == {"status": "CREATED", "objectCount": "0"}
    clock.advance(1.0)  # running for 4 objects x 0.5 s = 2 s
    clock.advance(1.0)
    assert _poll(twin, op) == {"status": "RUNNING", "objectCount": "2"}
    clock.advance(1.0)
    assert _poll(twin, op) == {"status": "COMPLETED", "objectCount": "4"}


def test_duration_grows_with_the_objects_counted(clock: FakeClock) -> None:
    twin = _twin(clock)
    twin.consistency.update({"bulk_start": 0, "bulk_seconds_per_object": 1,
                             "bulk_min_seconds": 0})  # fmt: skip
    for n in range(3):
        twin.create_product(SHOP, title=f"P{n}", variants=[{}])
    op = _bulk(twin)
    clock.advance(2.5)
    assert _poll(twin, op)["status"] == "RUNNING"
    clock.advance(1)
    assert _poll(twin, op)["status"] == "COMPLETED"


def test_cancel_passes_through_canceling(clock: FakeClock) -> None:
    twin = _twin(clock)
    twin.consistency.update({"cancel_seconds": 2})
    op = _bulk(twin)
    first = run(twin, CANCEL, {"id": op})["data"]["bulkOperationCancel"]
    assert first == {"bulkOperation": {"status": "CANCELING"}, "userErrors": []}
    clock.advance(1)
    assert _poll(twin, op)["status"] == "CANCELING"
    again = run(twin, CANCEL, {"id": op})["data"]["bulkOperationCancel"]
    assert again == {"bulkOperation": {"status": "CANCELING"}, "userErrors": []}  # recorded
    clock.advance(1.5)
    assert _poll(twin, op)["status"] == "CANCELED"


def test_settings_are_checked() -> None:
    twin = ShopifyTwin()
    with pytest.raises(ValueError, match="unknown consistency setting"):
        twin.consistency.update({"serach_lag": 1})
    with pytest.raises(ValueError, match="must be >= 0"):
        twin.consistency.update({"search_lag": -1})


def test_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY", '{"search_lag": 5}')
    twin = ShopifyTwin()
    assert (twin.consistency.enabled, twin.consistency.search_lag) == (True, 5.0)
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY", "0")
    assert ShopifyTwin().consistency.enabled is False
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY", "maybe")
    with pytest.raises(ValueError, match="RACKSHOP_SANDBOX_CONSISTENCY must be"):
        ShopifyTwin()


def test_serve_and_the_demo_lag_like_shopify_unless_the_environment_says_0(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: eventual consistency is on in ``sandbox serve`` and the demo (their Sandbox
    asks for it); the bare twin keeps it off; RACKSHOP_SANDBOX_CONSISTENCY=0 turns it off."""
    from rackshop.sandbox.world import Sandbox

    def settings(**kwargs: Any) -> tuple[bool, float]:
        with Sandbox(seed_data=False, **kwargs) as sandbox:
            lag = sandbox.shopify_app.consistency
            return lag.enabled, lag.search_lag

    monkeypatch.delenv("RACKSHOP_SANDBOX_CONSISTENCY", raising=False)
    assert settings(consistency=True) == (True, 2.0)
    assert settings()[0] is False
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY", '{"search_lag": 7}')
    assert settings(consistency=True) == (True, 7.0)
    monkeypatch.setenv("RACKSHOP_SANDBOX_CONSISTENCY", "0")
    assert settings(consistency=True)[0] is False


def test_a_product_write_answers_the_total_its_own_quantities_make(clock: FakeClock) -> None:
    """Recorded (product-set-parity): a creating productSet answers the totalInventory its
    quantities make (7) at once; a later productSet's quantities show in it only after the lag."""
    twin = _twin(clock)
    location = next(iter(twin.shop(SHOP).locations))
    product = _set_stock(twin, location, 7)
    assert product["totalInventory"] == 7
    clock.advance(0.5)
    assert _set_stock(twin, location, 10, product["id"])["totalInventory"] == 7
    clock.advance(3)
    assert run(twin, TOTAL, {"id": product["id"]})["data"]["product"]["totalInventory"] == 10
