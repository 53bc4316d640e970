"""The order journal as `rackshop orders` reads and changes it, and the refusal fingerprint."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from rackshop.errors import UsageError
from rackshop.store import Store
from rackshop.sync.mapping import order_fingerprint
from rackshop.sync.orders_commands import (
    attention_count,
    list_orders,
    order_kind,
    request_retry,
    resolve_order,
)
from tests.unit.test_mapping_orders import line, order


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "state.sqlite3")
    rows = [
        ("1", "#1001", "failed", {"refused": {"retry": False}}, "unknown SKU X"),
        ("2", "#1002", "failed", {}, "timeout"),
        ("3", "#1003", "held", {}, "total differs"),
        ("4", "#1004", "stopped", {"stopped": {"draft_removed": True}}, "cancelled"),
        ("5", "#1005", "stopped", {"stopped": {"draft_removed": False}}, "cancelled"),
        ("6", "#1006", "created", {}, None),
        ("7", "#1007", "waiting", {}, "unpaid"),
        ("8", "#1008", "done", {}, None),
    ]
    for oid, name, state, detail, reason in rows:
        s.journal_put("dk", f"gid://shopify/Order/{oid}", order_name=name, state=state,
                      detail=detail, reason=reason)
    s.journal_put("se", "gid://shopify/Order/9", order_name="#1001", state="failed",
                  reason="other shop")
    return s


def test_list_names_kinds_and_what_needs_attention(store: Store) -> None:
    rows = {r["order"]: r for r in list_orders(store, {"dk"})}
    assert {name: r["kind"] for name, r in rows.items()} == {
        "#1001": "refused", "#1002": "failed", "#1003": "held", "#1004": "stopped",
        "#1005": "stopped", "#1006": "half-done", "#1007": "waiting"}
    assert {n for n, r in rows.items() if r["attention"]} == {"#1001", "#1002", "#1003",
                                                               "#1005", "#1006"}
    assert attention_count(store, {"dk"}) == 5 and attention_count(store, {"dk", "se"}) == 6
    assert list_orders(None, {"dk"}) == []


def test_resolve_by_name_with_or_without_hash_and_by_id(store: Store) -> None:
    resolve_order(store, "dk", "1003")
    resolve_order(store, "dk", "gid://shopify/Order/6")
    row = store.journal_by_name("dk", "#1003")
    assert row is not None and row["state"] == "resolved"
    assert "was held: total differs" in row["reason"]
    assert row["detail"]["resolved"]["was"] == "held"
    assert store.journal_by_name("se", "#1001")["state"] == "failed"  # the other shop's #1001
    with pytest.raises(UsageError, match="needs no resolving"):
        resolve_order(store, "dk", "#1008")
    with pytest.raises(UsageError, match="no order '#9999'"):
        resolve_order(store, "dk", "#9999")


def test_retry_only_for_failed_orders(store: Store) -> None:
    request_retry(store, "dk", "#1001")
    row = store.journal_by_name("dk", "#1001")
    assert row is not None and row["detail"]["refused"]["retry"] is True
    assert order_kind(row) == "failed"  # asked for: no longer waiting
    with pytest.raises(UsageError, match="held, not failed"):
        request_retry(store, "dk", "#1003")


def test_fingerprint_sees_a_change_within_the_same_second() -> None:
    base = order("199.90", lineItems={"nodes": [line("A", 2, "99.95", "39.98")]})
    same = copy.deepcopy(base)
    assert order_fingerprint(base) == order_fingerprint(same)
    refunded = copy.deepcopy(base)
    refunded["lineItems"]["nodes"][0]["currentQuantity"] = 1
    assert order_fingerprint(refunded) != order_fingerprint(base)
    tagged = {**copy.deepcopy(base), "tags": ["rackbeat"], "updatedAt": "later"}
    assert order_fingerprint(tagged) == order_fingerprint(base)  # our own marks do not count
    longer = copy.deepcopy(base)
    longer["lineItems"]["nodes"] += [line("B", 1, "1.00")] * 60
    first_page = copy.deepcopy(longer)
    first_page["lineItems"]["nodes"] = first_page["lineItems"]["nodes"][:50]
    assert order_fingerprint(longer, lines=50) == order_fingerprint(first_page, lines=50)
