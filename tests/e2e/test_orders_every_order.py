"""Every order transfers (issue 21): any length, every gross amount, no refusal repeated.

Against the twins: orders of 60, 120 and 260 lines arrive whole and are journalled unit for
unit; one-line orders at every cent 141.10..141.19 and a 15 % code on 897.50 land on Shopify's
total in Rackbeat's own arithmetic; a refused order is not sent again until its SKU appears.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from rackshop.errors import ExitCode
from rackshop.sync.orders import sync_orders
from rackshop.sync.runner import JobResult
from tests.e2e.conftest import World
from tests.e2e.test_sync_orders import configure, rb_orders
from tests.helpers.shopify_orders import Line, OrderSpec, place, variant_ids

A, B = "BOX/12-Rød", "ÆBLE-1-M"  # 25 %
F = "TEE #3"  # 12 %
Z = "MUG 350 ML"  # 0 %
ROUNDING_ITEM = "AFRUND"


def _ours(world: World, shop: str, name: str) -> list[dict]:
    return [o for ref, o in rb_orders(world).items()
            if ref.startswith(f"rackshop:{shop}:") and ref.endswith(f" {name}")]


@pytest.mark.parametrize("n", [60, 120, 260])
def test_long_orders_transfer_whole_and_are_journalled_once(world: World, n: int) -> None:
    twin = world.sandbox.shopify_app
    ids = variant_ids(twin, "dk")
    skus = [(A, 25), (B, 25), (F, 12), (Z, 0)]
    lines = [Line(skus[i % 4][0], 1 + i % 3, f"{10 + i % 7}.{(i * 37) % 100:02d}", skus[i % 4][1])
             for i in range(n)]
    created = place(twin, "dk", OrderSpec(lines), ids=ids, direct=n > 250)
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked")

    result = sync_orders(runtime, runtime.config.select(["dk"]))

    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    assert result.shops[0].counts.get("transferred") == 1
    want: Counter[str] = Counter()
    for ln in lines:
        want[ln.sku] += ln.qty
    [rb] = _ours(world, "dk", created["name"])
    got: Counter[str] = Counter()
    for ln in rb["lines"]:
        if ln["item"]["number"] not in ("FRAGT", ROUNDING_ITEM):
            got[ln["item"]["number"]] += int(ln["quantity"])
    assert got == want
    order = twin.shop("dk").orders[created["id"]]
    assert Decimal(str(rb["total_total"])).quantize(Decimal("0.01")) == \
        Decimal(order["currentTotalPriceSet"]["shopMoney"]["amount"])
    journal = runtime.store().journal_get("dk", created["id"])
    assert journal is not None and journal["detail"]["lines"] == dict(want)
    assert sum(journal["detail"]["lines"].values()) == sum(ln.qty for ln in lines)
    # and a second pass over it writes nothing
    marks = world.marks()
    again = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert again.exit_code == ExitCode.OK
    assert world.writes_since(marks) == (0, 0)


GROSS = [f"141.{c}" for c in range(10, 20)]


def test_every_cent_and_the_fifteen_percent_code_land_on_shopifys_total(world: World) -> None:
    twin = world.sandbox.shopify_app
    world.sandbox.rackbeat_app.add_product(ROUNDING_ITEM, "Øreafrunding", 0.0, 9000)
    ids = variant_ids(twin, "dk")
    placed = [place(twin, "dk", OrderSpec([Line(A, 1, gross)]), ids=ids) for gross in GROSS]
    placed.append(place(twin, "dk", OrderSpec(
        [Line(B, 1, "897.50")],
        discount_code={"itemPercentageDiscountCode": {"code": "FIFTEEN", "percentage": 15}}),
        ids=ids))
    assert placed[-1]["currentTotalPriceSet"]["shopMoney"]["amount"] == "762.87"
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked",
                        rounding_item=ROUNDING_ITEM)

    result = sync_orders(runtime, runtime.config.select(["dk"]))

    counts = result.shops[0].counts
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    assert counts.get("transferred") == len(placed)
    assert counts.get("rounding_lines") == 3  # 141.12, 141.17 and 762.87
    for created in placed:
        [rb] = _ours(world, "dk", created["name"])  # in Rackbeat once
        shopify_total = Decimal(created["currentTotalPriceSet"]["shopMoney"]["amount"])
        assert Decimal(str(rb["total_total"])).quantize(Decimal("0.01")) == shopify_total
        rounding = [ln for ln in rb["lines"] if ln["item"]["number"] == ROUNDING_ITEM]
        assert all(abs(Decimal(str(ln["line_price"]))) <= Decimal("0.01") for ln in rounding)
        assert rb["is_booked"]


def test_without_a_rounding_item_the_reason_says_so_not_tips(world: World) -> None:
    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line(A, 1, "141.12")]))
    runtime = configure(world, "dk", transfer_on="paid", rounding_item=None)
    result = sync_orders(runtime, runtime.config.select(["dk"]))
    assert result.exit_code == ExitCode.PARTIAL
    [(record, reason)] = result.shops[0].failures
    assert record == created["name"]
    assert "rounding_item" in reason and "tip" not in reason
    assert not _ours(world, "dk", created["name"])


def _rackbeat_writes(world: World, mark: int) -> int:
    return int(world.sandbox.rackbeat.log.counters(mark)["writes"])


def test_a_refused_order_waits_until_its_sku_appears(world: World) -> None:
    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line("NEW-ITEM-1", 2, "100.00"), Line(A, 1, "782.50")]))
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked")
    first = sync_orders(runtime, runtime.config.select(["dk"]))
    assert first.exit_code == ExitCode.PARTIAL
    assert "NEW-ITEM-1" in first.shops[0].failures[0][1]

    # unchanged: nothing is sent to Rackbeat again, and the order still says why it waits
    for _ in range(2):
        mark = world.sandbox.rackbeat.log.mark()
        again = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
        assert _rackbeat_writes(world, mark) == 0
        assert again.exit_code == ExitCode.PARTIAL
        assert again.shops[0].counts.get("refusals_waiting") == 1
        assert "NEW-ITEM-1" in again.shops[0].failures[0][1]

    # the SKU appears in Rackbeat: the next pass transfers the order
    world.sandbox.rackbeat_app.add_product("NEW-ITEM-1", "New item", 80.0, 1000)
    last = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert last.exit_code == ExitCode.OK, last.shops[0].failures
    assert last.shops[0].counts.get("transferred") == 1
    [rb] = _ours(world, "dk", created["name"])
    assert Decimal(str(rb["total_total"])).quantize(Decimal("0.01")) == \
        Decimal(created["currentTotalPriceSet"]["shopMoney"]["amount"])
    assert not world.runtime.store().failures("sync-orders")


def test_a_refused_order_is_sent_again_when_it_changes_in_shopify(world: World) -> None:
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    created = place(twin, "dk", OrderSpec([Line("GONE-1", 1, "100.00"), Line(A, 2, "782.50")]))
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked")
    assert sync_orders(runtime, runtime.config.select(["dk"])).exit_code == ExitCode.PARTIAL
    # the merchant refunds the line Rackbeat does not know: the order changed, so it is tried
    twin_orders.refund(twin.shop("dk"), created["id"], lines={"GONE-1": 1})
    result = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    assert len(_ours(world, "dk", created["name"])) == 1


def test_dry_run_shows_the_rounding_line(world: World) -> None:
    import tomllib

    import tomli_w
    from typer.testing import CliRunner

    from rackshop import cli

    data = tomllib.loads(world.config_path.read_text(encoding="utf-8"))
    for shop in data["shops"]:
        shop["orders"]["rounding_item"] = ROUNDING_ITEM
    world.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
    world.sandbox.rackbeat_app.add_product(ROUNDING_ITEM, "Øreafrunding", 0.0, 9000)
    place(world.sandbox.shopify_app, "dk", OrderSpec([Line(A, 1, "141.17")]))
    marks = world.marks()
    result = CliRunner().invoke(cli.app, ["sync-orders", "--shop", "dk", "--dry-run",
                                          "--config", str(world.config_path)])
    assert result.exit_code == ExitCode.OK, result.output
    assert ROUNDING_ITEM in result.output and "note: rounding line" in result.output
    assert world.writes_since(marks) == (0, 0)


def test_a_barred_item_waits_until_the_bar_is_lifted(world: World) -> None:
    world.sandbox.rackbeat_app.add_product("BARRED-1", "Barred", 80.0, 1000, is_barred=True)
    created = place(world.sandbox.shopify_app, "dk", OrderSpec([Line("BARRED-1", 1, "100.00")]))
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked")
    first = sync_orders(runtime, runtime.config.select(["dk"]))
    assert "BARRED-1" in first.shops[0].failures[0][1]
    assert "barred" in first.shops[0].failures[0][1]
    mark = world.sandbox.rackbeat.log.mark()
    again = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert again.exit_code == ExitCode.PARTIAL and _rackbeat_writes(world, mark) == 0
    world.runtime.rackbeat().update("products", "BARRED-1", {"is_barred": False})
    last = sync_orders(world.fresh_runtime(), world.runtime.config.select(["dk"]))
    assert last.exit_code == ExitCode.OK, last.shops[0].failures
    assert len(_ours(world, "dk", created["name"])) == 1


def test_a_change_past_the_first_page_is_reported_and_an_unchanged_long_order_is_not_paged(
        world: World) -> None:
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    ids = variant_ids(twin, "dk")
    late = sorted(sku for sku in ids if sku not in (A, B, F, Z))[0]
    lines = [Line((A, B)[i % 2], 1, "100.00") for i in range(59)]
    lines.insert(55, Line(late, 2, "100.00"))
    created = place(twin, "dk", OrderSpec(lines), ids=ids)
    runtime = configure(world, "dk", transfer_on="paid", process_to="booked",
                        after_transfer="report")

    def pages_read(mark: int) -> int:  # OrderLines reads `order(id:) { lineItems }`
        return sum(1 for e in world.sandbox.shopify.log.entries(mark) if e.label == "query order")

    mark = world.sandbox.shopify.log.mark()
    assert sync_orders(runtime, runtime.config.select(["dk"])).exit_code == ExitCode.OK
    assert pages_read(mark) == 1  # lines 51-60
    mark = world.sandbox.shopify.log.mark()
    quiet = sync_orders(runtime, runtime.config.select(["dk"]))
    assert quiet.shops[0].counts.get("already_done") == 1
    assert pages_read(mark) == 0  # unchanged: the further pages are not read again
    twin_orders.refund(twin.shop("dk"), created["id"], lines={late: 1})
    changed = sync_orders(runtime, runtime.config.select(["dk"]))
    assert changed.shops[0].counts.get("changed_after_transfer") == 1
    failures = runtime.store().failures("sync-orders")
    assert any(f"{late} 2->1" in f["reason"] for f in failures), failures


def _read_by_id(world: World, mark: int) -> int:
    """Shopify requests since ``mark`` that read orders in full by id (``nodes(ids:)``)."""
    return sum(n for label, n in world.sandbox.shopify.log.counters(mark)["by_label"].items()
               if "nodes" in label)


def _pass(world: World, *, minutes_later: int = 0, **orders: str) -> JobResult:
    """A sync-orders pass of shop dk run ``minutes_later`` than now by its own clock."""
    runtime = configure(world, "dk", **{"transfer_on": "paid", "process_to": "booked", **orders})
    at = datetime.now(UTC) + timedelta(minutes=minutes_later)
    return sync_orders(runtime, runtime.config.select(["dk"]), now=lambda: at)


def test_orders_only_a_change_can_move_are_reported_from_the_journal(world: World) -> None:
    """Orders done, waiting or refused, read a while after their last change, are not read in
    full again while the list of changed orders shows them unchanged (issue 22: the
    rehearsal's passes grew with every waiting order); a change in Shopify or of the
    ``[orders]`` settings still moves them."""
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    unpaid = place(twin, "dk", OrderSpec([Line(A, 1, "782.50")], financial_status="PENDING"))
    also_unpaid = place(twin, "dk", OrderSpec([Line(B, 1, "995.00")], financial_status="PENDING"))
    refused = place(twin, "dk", OrderSpec([Line("NEW-ITEM-2", 1, "100.00")]))
    paid = place(twin, "dk", OrderSpec([Line(Z, 1, "507.00", 0)]))
    first = _pass(world, minutes_later=2)
    assert first.shops[0].counts.get("waiting") == 2
    assert first.shops[0].counts.get("transferred") == 1
    assert [r for r, _ in first.shops[0].failures] == [refused["name"]]
    _pass(world, minutes_later=4)  # reads the order the tag write-back changed

    for minutes in (6, 8):
        mark = world.sandbox.shopify.log.mark()
        again = _pass(world, minutes_later=minutes)
        assert _read_by_id(world, mark) == 0
        counts = again.shops[0].counts
        assert counts.get("waiting") == 2 and counts.get("refusals_waiting") == 1
        assert counts.get("already_done") == 1
        assert again.exit_code == ExitCode.PARTIAL
        assert [r for r, _ in again.shops[0].failures] == [refused["name"]]
        assert "NEW-ITEM-2" in again.shops[0].failures[0][1]
    assert len(_ours(world, "dk", paid["name"])) == 1

    # paid in Shopify nine minutes on: the order changed, so the next pass transfers it
    twin.advance_wall_clock(9 * 60)
    twin_orders.mark_paid(twin.shop("dk"), unpaid["id"])
    after_payment = _pass(world, minutes_later=10)
    assert after_payment.shops[0].counts.get("transferred") == 1
    assert after_payment.shops[0].counts.get("waiting") == 1

    # the settings change (transfer on creation) with nothing in the list of changed orders:
    # the journal's waiting order is read and sent, the refusal tried again
    later = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.runtime.store().set_cursor("dk", "sync-orders", later)
    mark = world.sandbox.shopify.log.mark()
    created = _pass(world, minutes_later=200, transfer_on="created")
    assert _read_by_id(world, mark) == 1
    assert created.shops[0].counts.get("transferred") == 1
    for order in (unpaid, also_unpaid, paid):
        assert len(_ours(world, "dk", order["name"])) == 1
    assert not _ours(world, "dk", refused["name"])


def test_a_change_in_the_second_an_order_was_read_is_not_missed(world: World) -> None:
    """Shopify's updatedAt counts whole seconds: an order paid in the second a pass read it
    keeps the updatedAt that pass saw. An order read that soon after its change is read in
    full again, whatever the list says, until a read a while after its change."""
    from rackshop.sandbox.shopify import orders as twin_orders

    twin = world.sandbox.shopify_app
    unpaid = place(twin, "dk", OrderSpec([Line(A, 1, "782.50")], financial_status="PENDING"))
    assert _pass(world).shops[0].counts.get("waiting") == 1
    # paid within the same second: the change keeps the updatedAt the pass read
    seen = twin.shop("dk").orders[unpaid["id"]]["updatedAt"]
    twin_orders.mark_paid(twin.shop("dk"), unpaid["id"])
    twin.shop("dk").orders[unpaid["id"]]["updatedAt"] = seen
    result = _pass(world)
    assert result.shops[0].counts.get("transferred") == 1, result.shops[0].counts
    assert len(_ours(world, "dk", unpaid["name"])) == 1


def test_a_refusal_of_an_earlier_version_does_not_stand_unread(world: World) -> None:
    """A refusal stands without reading the order only for the version it refused: if the last
    (settled) read saw a later version that was not refused again (a retry whose answer was
    lost keeps the row failed with the old refusal), the order is read and tried again."""
    refused = place(world.sandbox.shopify_app, "dk",
                    OrderSpec([Line("NEW-ITEM-3", 1, "100.00")]))
    assert [r for r, _ in _pass(world, minutes_later=2).shops[0].failures] == [refused["name"]]
    store = world.runtime.store()
    row = store.journal_get("dk", refused["id"])
    assert row is not None and row["detail"]["settled"] == row["detail"]["refused"][
        "shopify_updated_at"]
    # the journal as such a retry leaves it: settled at a later version, the old refusal kept
    store.journal_put("dk", refused["id"], detail={"settled": "2099-01-01T00:00:00Z"})
    world.runtime.store().set_cursor("dk", "sync-orders", "2099-01-01T03:00:00Z")
    mark = world.sandbox.shopify.log.mark()
    again = _pass(world, minutes_later=4)
    assert _read_by_id(world, mark) == 1
    assert [r for r, _ in again.shops[0].failures] == [refused["name"]]
