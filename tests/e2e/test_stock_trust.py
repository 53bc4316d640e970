"""Stock you can trust (issue 24): sequences of ordinary weeks, each a defect the old code had.

Every test runs against the twins and asserts what Shopify holds afterwards, not what rackshop
believes it wrote.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rackshop.config import FrozenMap
from rackshop.errors import ExitCode
from rackshop.runtime import Runtime
from rackshop.sandbox.world import Sandbox
from rackshop.sync.orders import sync_orders
from rackshop.sync.stock import SKIP_REASONS, sync_stock
from tests.e2e.test_sync_stock import _item_id, shopify_levels, three, with_stock
from tests.helpers.shopify_orders import Line, OrderSpec, place

__all__ = ["three"]  # the fixture, shared with test_sync_stock

SKU = "RS-1010"  # in all three shops


def _only_at_1(sandbox: Sandbox, sku: str, quantity: float) -> None:
    for loc in (1, 2, 21):
        sandbox.rackbeat_app.set_stock(sku, loc, 0)
    sandbox.rackbeat_app.set_stock(sku, 1, quantity)


def _location(sandbox: Sandbox, shop: str, name: str = "Lager") -> str:
    return next(gid for gid, loc in sandbox.shopify_app.shop(shop).locations.items()
                if loc["name"] == name)


def _orders(runtime: Runtime, shop: str, **changes: Any) -> Runtime:
    cfg = runtime.config
    shops = tuple(dataclasses.replace(s, orders=dataclasses.replace(s.orders, **changes))
                  if s.name == shop else s for s in cfg.shops)
    runtime.close()
    return Runtime(dataclasses.replace(cfg, shops=shops))


def _stock_writes(sandbox: Sandbox, mark: int) -> int:
    return sandbox.shopify.log.counters(mark)["by_label"].get(
        "mutation inventorySetQuantities", 0)


def test_a_change_that_repeats_an_earlier_one_is_applied_every_time(three: Any) -> None:
    """51 -> 52 -> 51 -> 52 -> 51: the old batch key was a hash of (item, location, from, to),
    so the third transition reused the first one's key and Shopify applied nothing."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    shops = runtime.config.select(["se"])
    _only_at_1(sandbox, SKU, 51)
    sync_stock(runtime, shops)
    assert shopify_levels(sandbox, "se")[(SKU, "Lager")] == 51
    for quantity in (52, 51, 52, 51, 52):
        sandbox.rackbeat_app.set_stock(SKU, 1, quantity)
        result = sync_stock(runtime, shops)
        assert result.exit_code == ExitCode.OK
        assert shopify_levels(sandbox, "se")[(SKU, "Lager")] == quantity
        assert result.shops[0].counts.get("changed") == 1, quantity
    runtime.close()


def test_shopify_own_movement_is_repaired_by_the_next_ordinary_pass(three: Any) -> None:
    """6 shown; an unpaid order takes 2 (Shopify 4); Rackbeat receives 2 while it waits; the
    order is paid and booked: Rackbeat has 6 available and the shop must show 6, not stay at 4
    because the last pushed figure was 6."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "dk", shopify_location="Lager", rackbeat_locations=(1,),
                         location_map=FrozenMap())
    runtime = _orders(runtime, "dk", transfer_on="paid", process_to="booked")
    shops = runtime.config.select(["dk"])
    _only_at_1(sandbox, SKU, 6)
    sync_stock(runtime, shops)
    assert shopify_levels(sandbox, "dk")[(SKU, "Lager")] == 6
    order = place(sandbox.shopify_app, "dk",
                  OrderSpec([Line(SKU, 2, "550.00")], financial_status="PENDING"))
    item, location = _item_id(sandbox, "dk", SKU), _location(sandbox, "dk")
    sandbox.shopify_app.set_available("dk", item, location, 4)  # Shopify's own sale
    sync_orders(runtime, shops)  # waits for payment
    sandbox.rackbeat_app.set_stock(SKU, 1, 8)  # a receipt while the order waits
    sync_stock(runtime, shops)
    assert shopify_levels(sandbox, "dk")[(SKU, "Lager")] == 6  # 8 - 2 on their way
    sandbox.shopify_app.execute("dk", 'mutation($id: ID!) { orderMarkAsPaid(input: {id: $id}) '
                                '{ userErrors { message } } }', {"id": order["id"]})
    assert sync_orders(runtime, shops).shops[0].counts.get("transferred") == 1
    assert sandbox.rackbeat_app.stock(SKU)["available_quantity"] == 6
    sandbox.shopify_app.set_available("dk", item, location, 4)  # e.g. another app's write
    sync_stock(runtime, shops)
    assert shopify_levels(sandbox, "dk")[(SKU, "Lager")] == 6
    runtime.close()


def test_a_sale_between_the_read_and_the_write_is_not_overwritten(three: Any) -> None:
    """The write is compare-and-set: a level Shopify moved after the pass read it is refused as
    stale, read again and planned again, keeping the sale."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    shops = runtime.config.select(["se"])
    _only_at_1(sandbox, SKU, 10)
    sync_stock(runtime, shops)
    sandbox.rackbeat_app.set_stock(SKU, 1, 20)
    item, location = _item_id(sandbox, "se", SKU), _location(sandbox, "se")
    client = runtime.shopify(runtime.config.shop("se"))
    send = client.mutate
    sold = []

    def mutate(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "InventorySetQuantities" and not sold:
            sold.append(1)  # a customer buys 3 just before the write lands
            sandbox.shopify_app.set_available("se", item, location, 7)
        return send(name, *args, **kwargs)

    client.mutate = mutate  # type: ignore[method-assign]
    result = sync_stock(runtime, shops)
    assert result.exit_code == ExitCode.OK
    assert result.shops[0].counts.get("stale_reread") == 1
    assert shopify_levels(sandbox, "se")[(SKU, "Lager")] == 17  # 20, less the 3 just sold
    runtime.close()


def test_bom_orders_hold_back_their_components_in_every_shop(three: Any) -> None:
    """An unpaid order for 19 gift sets (2 x a component each) takes all 38 components: no shop
    may keep offering them, nor the sets."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    runtime = _orders(runtime, "dk", transfer_on="paid", process_to="booked")
    _only_at_1(sandbox, SKU, 38)
    group = sandbox.rackbeat_app.snapshot()["products"][0]["group_id"]
    sandbox.rackbeat_app.add_lot("GIFT-1", "Gaveæske", 500.0, group, {SKU: 2})
    for shop in ("dk", "se"):
        sandbox.shopify_app.create_product(shop, title="Gaveæske", variants=[
            {"sku": "GIFT-1", "price": "500.00"}])
    sync_stock(runtime, runtime.config.select(()))
    assert shopify_levels(sandbox, "se")[("GIFT-1", "Lager")] == 19
    place(sandbox.shopify_app, "dk",
          OrderSpec([Line("GIFT-1", 19, "500.00")], financial_status="PENDING"))
    sync_orders(runtime, runtime.config.select(["dk"]))  # waits for payment: not in Rackbeat
    sync_stock(runtime, runtime.config.select(()))
    se = shopify_levels(sandbox, "se")
    assert se[(SKU, "Lager")] == 0
    assert se[("GIFT-1", "Lager")] == 0
    # an order for the component alone lowers the sets as well
    _only_at_1(sandbox, SKU, 48)
    place(sandbox.shopify_app, "se", OrderSpec([Line(SKU, 4, "550.00")],
                                               financial_status="PENDING"))
    sync_stock(runtime, runtime.config.select(()))
    se = shopify_levels(sandbox, "se")
    assert se[(SKU, "Lager")] == 48 - 38 - 4
    assert se[("GIFT-1", "Lager")] == (48 - 38 - 4) // 2
    runtime.close()


def test_every_line_of_a_long_order_is_held_back(three: Any) -> None:
    """Lines past the 50th were not read (lineItems(first: 50) without paging)."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    last = "RS-1011"
    _only_at_1(sandbox, SKU, 100)
    _only_at_1(sandbox, last, 100)
    lines = [Line(SKU, 1, "550.00") for _ in range(55)] + [Line(last, 1, "550.00")
                                                          for _ in range(7)]
    place(sandbox.shopify_app, "dk", OrderSpec(lines, financial_status="PENDING"))
    sync_stock(runtime, runtime.config.select(["se"]))
    se = shopify_levels(sandbox, "se")
    assert se[(SKU, "Lager")] == 100 - 55
    assert se[(last, "Lager")] == 100 - 7
    runtime.close()


def test_an_order_booked_while_the_pass_runs_is_counted_at_least_once(three: Any) -> None:
    """sync-orders books an order after sync-stock read Rackbeat's stock report: the old pass
    read the report first and the journal after, so the order was in neither figure."""
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    runtime = _orders(runtime, "dk", transfer_on="paid", process_to="booked")
    _only_at_1(sandbox, SKU, 38)
    order = place(sandbox.shopify_app, "dk",
                  OrderSpec([Line(SKU, 3, "550.00")], financial_status="PENDING"))
    sync_orders(runtime, runtime.config.select(["dk"]))  # waiting for payment
    other = Runtime(runtime.config)
    rackbeat = runtime.rackbeat()
    read = rackbeat.iter_list
    booked = []

    def iter_list(path: str, *args: Any, **kwargs: Any) -> Any:
        yield from read(path, *args, **kwargs)
        if path == "reports/checking" and not booked:
            booked.append(1)  # the report is read; now the order is paid and booked
            sandbox.shopify_app.execute(
                "dk", 'mutation($id: ID!) { orderMarkAsPaid(input: {id: $id}) '
                '{ userErrors { message } } }', {"id": order["id"]})
            done = sync_orders(other, other.config.select(["dk"]))
            assert done.shops[0].counts.get("transferred") == 1

    rackbeat.iter_list = iter_list  # type: ignore[method-assign]
    sync_stock(runtime, runtime.config.select(["se"]))
    assert booked
    assert sandbox.rackbeat_app.stock(SKU)["available_quantity"] == 35
    assert shopify_levels(sandbox, "se")[(SKU, "Lager")] <= 35
    other.close()
    runtime.close()


def test_a_deleted_listing_leaves_and_a_relisted_sku_gets_its_stock(three: Any) -> None:
    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    shops = runtime.config.select(["se"])
    _only_at_1(sandbox, SKU, 5)
    sync_stock(runtime, shops)
    product = sandbox.shopify_app.execute(
        "se", 'query($q: String!) { productVariants(first: 1, query: $q) { nodes { product '
        '{ id } } } }', {"q": f"sku:'{SKU}'"})["data"]["productVariants"]["nodes"][0]
    deleted = sandbox.shopify_app.execute(
        "se", 'mutation($id: ID!) { productDelete(input: {id: $id}) { deletedProductId '
        'userErrors { message } } }', {"id": product["product"]["id"]})
    assert deleted["data"]["productDelete"]["deletedProductId"]
    sandbox.rackbeat_app.set_stock(SKU, 1, 11)
    result = sync_stock(runtime, shops)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    # the listing comes back with the same SKU: it gets Rackbeat's stock, no duplicate
    sandbox.shopify_app.create_product("se", title="Igen", variants=[
        {"sku": SKU, "price": "550.00"}])
    result = sync_stock(runtime, shops)
    assert result.exit_code == ExitCode.OK, result.shops[0].failures
    duplicates = result.shops[0].details.get("skipped", {}).get(SKIP_REASONS["duplicate"], [])
    assert SKU not in duplicates
    assert shopify_levels(sandbox, "se")[(SKU, "Lager")] == 11
    runtime.close()


def test_a_quiet_pass_after_all_this_writes_nothing(three: Any) -> None:
    sandbox, runtime = three
    sync_stock(runtime, runtime.config.select(()))
    mark = sandbox.shopify.log.mark()
    again = sync_stock(runtime, runtime.config.select(()))
    assert again.exit_code == ExitCode.OK
    assert sandbox.shopify.log.counters(mark)["writes"] == 0
    assert _stock_writes(sandbox, mark) == 0
    runtime.close()


def test_the_real_time_path_converges_too_bom_included(three: Any) -> None:
    """push_stock (what a Rackbeat webhook triggers) reads Shopify's levels of the items it is
    about, the BOMs built from them included, and repairs a hand edit like a whole pass."""
    from rackshop.sync.stock import push_stock

    sandbox, runtime = three
    runtime = with_stock(runtime, "se", buffer=0)
    _only_at_1(sandbox, SKU, 10)
    group = sandbox.rackbeat_app.snapshot()["products"][0]["group_id"]
    sandbox.rackbeat_app.add_lot("GIFT-2", "Gaveæske", 500.0, group, {SKU: 2})
    sandbox.shopify_app.create_product("se", title="Gaveæske", variants=[
        {"sku": "GIFT-2", "price": "500.00"}])
    sync_stock(runtime, runtime.config.select(()))
    sandbox.shopify_app.set_available("se", _item_id(sandbox, "se", SKU),
                                      _location(sandbox, "se"), 107)  # a hand edit
    sandbox.rackbeat_app.set_stock(SKU, 1, 8)
    mark = sandbox.rackbeat.log.mark()
    result = push_stock(runtime, runtime.config.select(["se"]), [SKU])
    assert result.exit_code == ExitCode.OK, [s.failures for s in result.shops]
    se = shopify_levels(sandbox, "se")
    assert se[(SKU, "Lager")] == 8
    assert se[("GIFT-2", "Lager")] == 4
    assert sandbox.rackbeat.log.counters(mark)["requests"] <= 6  # narrowed reads
    runtime.close()
