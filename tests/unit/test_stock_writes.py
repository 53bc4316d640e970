"""The stock writer's keys: one per intended write, journalled first; Shopify's idempotency
answers each handled as Shopify documents them, never taken for success."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from rackshop.errors import ShopifyUserErrors, UserErrorItem
from rackshop.store import Store
from rackshop.sync.runner import ShopResult
from rackshop.sync.stock_plan import Change, explode, sellable
from rackshop.sync.stock_writes import Writes

OK = {"inventoryAdjustmentGroup": {"changes": []}, "userErrors": []}


def _error(code: str) -> dict[str, Any]:
    return {"inventoryAdjustmentGroup": None,
            "userErrors": [{"field": ["input"], "message": code.lower(), "code": code}]}


class FakeClient:
    """Answers mutations from a script and remembers the keys it was sent."""

    def __init__(self, answers: Sequence[Mapping[str, Any]]) -> None:
        self.answers = list(answers)
        self.keys: list[str] = []

    def mutate(self, name: str, variables: Mapping[str, Any], *, root: str, idempotent: bool,
               allow_codes: Sequence[str] = ()) -> dict[str, Any]:
        assert idempotent
        self.keys.append(str(variables["key"]))
        answer = dict(self.answers.pop(0))
        codes = [e["code"] for e in answer.get("userErrors") or []]
        if codes and not all(c in allow_codes for c in codes):
            raise ShopifyUserErrors(root, [UserErrorItem(None, c, c) for c in codes])
        return answer


def _writes(tmp_path: Path, answers: Sequence[Mapping[str, Any]]
            ) -> tuple[Writes, FakeClient, Store, ShopResult]:
    store = Store(tmp_path / "state.sqlite3")
    client = FakeClient(answers)
    result = ShopResult("dk")
    return Writes(client, store, "dk", result, lambda _s: None), client, store, result  # type: ignore[arg-type]


def _states(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT idempotency_key, state FROM stock_batches"))


def test_two_identical_writes_get_two_keys(tmp_path: Path) -> None:
    writes, client, store, _ = _writes(tmp_path, [OK, OK])
    variables = {"input": {"quantities": [{"quantity": 5}]}}
    writes.send("InventorySetQuantities", "inventorySetQuantities", variables, skus=["A"])
    writes.send("InventorySetQuantities", "inventorySetQuantities", variables, skus=["A"])
    assert len(set(client.keys)) == 2
    assert sorted(_states(store).values()) == ["done", "done"]


def test_concurrent_request_waits_and_sends_the_same_key(tmp_path: Path) -> None:
    writes, client, store, _ = _writes(tmp_path, [_error("IDEMPOTENCY_CONCURRENT_REQUEST"), OK])
    payload = writes.send("InventorySetQuantities", "inventorySetQuantities", {}, skus=["A"])
    assert payload == OK
    assert client.keys[0] == client.keys[1]
    assert list(_states(store).values()) == ["done"]


def test_concurrent_request_that_never_settles_stays_sent_for_the_next_pass(
        tmp_path: Path) -> None:
    busy = _error("IDEMPOTENCY_CONCURRENT_REQUEST")
    writes, client, store, result = _writes(tmp_path, [busy, busy, busy])
    assert writes.send("InventorySetQuantities", "inventorySetQuantities", {},
                       skus=["A"]) is None
    assert len(set(client.keys)) == 1
    assert list(_states(store).values()) == ["sent"]
    assert result.counts["unanswered"] == 1


@pytest.mark.parametrize("code", ["IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                                  "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"])
def test_a_refused_key_is_replaced_by_a_new_one(tmp_path: Path, code: str) -> None:
    writes, client, store, result = _writes(tmp_path, [_error(code), OK])
    payload = writes.send("InventorySetQuantities", "inventorySetQuantities", {}, skus=["A"])
    assert payload == OK
    assert client.keys[0] != client.keys[1]
    assert sorted(_states(store).values()) == ["done", "refused"]
    assert not result.failures


def test_a_key_refused_twice_fails_the_rows_never_silently(tmp_path: Path) -> None:
    failed = _error("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")
    writes, _, _, result = _writes(tmp_path, [failed, failed])
    assert writes.send("InventorySetQuantities", "inventorySetQuantities", {},
                       skus=["A", "B"]) is None
    assert [sku for sku, _ in result.failures] == ["A", "B"]


def test_an_unanswered_write_is_sent_again_with_its_key_by_the_next_pass(
        tmp_path: Path) -> None:
    writes, client, store, _ = _writes(tmp_path, [OK])
    writes._journal("rackshop-k1", "InventorySetQuantities", "inventorySetQuantities",
                    {"input": {}}, "sent")  # a pass killed after journalling
    writes.replay_unanswered()
    assert client.keys == ["rackshop-k1"]
    assert _states(store) == {"rackshop-k1": "done"}
    writes.replay_unanswered()  # nothing left to send
    assert client.keys == ["rackshop-k1"]


# -- pure: BOMs --------------------------------------------------------------------------------

BOMS = {"gift": [("cup", 2.0), ("card", 1.0)], "crate": [("gift", 3.0)]}


def test_explode_holds_back_components_and_nested_boms() -> None:
    assert explode({"crate": 1, "cup": 1}, BOMS) == {"crate": 1, "gift": 3, "cup": 7, "card": 3}


def test_sellable_sets_follow_the_scarcest_component() -> None:
    available = {"cup": 38, "card": 100}
    assert sellable("gift", available, {}, BOMS) == 19
    assert sellable("gift", available, explode({"gift": 19}, BOMS), BOMS) == 0
    assert sellable("gift", available, {"cup": 4}, BOMS) == 17
    assert sellable("crate", available, {}, BOMS) == 6
    assert sellable("cup", available, explode({"crate": 1}, BOMS), BOMS) == 32


def test_change_carries_the_level_read_for_compare_and_set() -> None:
    change = Change("A", "gid://shopify/InventoryItem/1", "gid://shopify/Location/1", 5, 3)
    assert change.previous == 3 and not change.activate
