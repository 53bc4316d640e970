"""``check --contract --write-probes``: one scratch draft order (shown and confirmed first) to learn
how line_price, discounts and rounding behave, deleted again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from rackshop.contract.rackbeat_probes import LINE_TOTALS, line_price_meaning
from rackshop.contract.report import (
    CANNOT_TELL,
    OK,
    ORDERS,
    ContractReport,
    Probe,
    cannot_run,
    using,
)
from rackshop.rackbeat.client import RackbeatClient
from rackshop.store import Store, utcnow

#: The scratch line: 3 × 9.99 at 10 % off, 25 % VAT. Unit semantics (mapping.line_amounts):
#: round(3 × 9.99 × 0.9, 2) = 26.97, VAT round(26.97 × 0.25, 2) = 6.74, total 33.71.
PROBE_LINE = {"quantity": 3, "line_price": 9.99, "discount_percentage": 10,
              "vat_percentage": 25}

PROBE_REFERENCE = "rackshop-contract-probe-{id}"


def expected_line_amounts() -> dict[str, float]:
    """What rackshop's mapping computes for :data:`PROBE_LINE` (pure)."""
    from decimal import Decimal

    from rackshop.sync.mapping import rackbeat_line_amounts

    total, vat = rackbeat_line_amounts(Decimal(str(PROBE_LINE["quantity"])),
                              Decimal(str(PROBE_LINE["line_price"])),
                              Decimal(str(PROBE_LINE["discount_percentage"])),
                              Decimal(str(PROBE_LINE["vat_percentage"])))
    return {"subtotal": float(total), "vat": float(vat), "total": float(total + vat)}


def judge_line_price(order: Mapping[str, Any]) -> tuple[str, str, str]:
    """(observed, verdict, what ``line_price`` is: ``unit``, ``total`` or ``differs``) of the
    scratch order Rackbeat computed (pure)."""
    want = expected_line_amounts()
    got = {"subtotal": order.get("total_subtotal"), "vat": order.get("total_vat"),
           "total": order.get("total_total")}
    observed = ", ".join(f"{k} {v}" for k, v in got.items())
    try:
        same = all(abs(float(got[k] or 0) - want[k]) < 0.005 for k in want)
    except (TypeError, ValueError):
        return observed, CANNOT_TELL, "differs"
    if same:
        return observed, OK, "unit"
    if line_price_meaning([PROBE_LINE], got["subtotal"]) == "total":
        return observed + " (line_price read as the line's total)", using(LINE_TOTALS), "total"
    return observed, cannot_run([ORDERS]), "differs"


def _probe_customer_and_item(runtime: Any) -> tuple[int | None, str | None]:
    shops = [s for s in runtime.config.shops if s.enabled and s.orders.enabled]
    customer = next((s.orders.guest_customer for s in shops if s.orders.guest_customer), None)
    item = next((s.orders.shipping_item for s in shops if s.orders.shipping_item), None)
    client = runtime.rackbeat()
    if customer is None:
        first = next(iter(client.iter_list("customers", {"limit": 1}, page_size=1)), None)
        customer = first.get("number") if first else None
    if item is None:
        first = next(iter(client.iter_list("products", page_size=1)), None)
        item = first.get("number") if first else None
    return (int(customer) if customer is not None else None,
            str(item) if item is not None else None)


def write_probe_plan(runtime: Any) -> str:
    """What ``--write-probes`` will write, for the confirmation."""
    customer, item = _probe_customer_and_item(runtime)
    return (f"--write-probes creates one draft order in Rackbeat for customer {customer} with "
            f"one line of item {item} (3 × 9.99, 10 % off, 25 % VAT; a draft reserves no "
            "stock), reads the totals Rackbeat computes, and deletes it at once. It is "
            "journalled in the state store: a crash leaves nothing behind (the next run "
            "deletes it).")


def cleanup_write_probes(client: RackbeatClient, store: Store) -> int:
    """Delete every scratch order a previous run left (journal rows not ``deleted``)."""
    from rackshop.errors import NotFoundError

    done = 0
    rows = store.conn.execute("SELECT id, record FROM contract_probes WHERE state != 'deleted'"
                              ).fetchall()
    for row in rows:
        pid, number = int(row[0]), row[1]
        if number is None:  # the answer was lost: find it by its reference
            ref = PROBE_REFERENCE.format(id=pid)
            found = [o for o in client.iter_list("orders", {"search": ref}, page_size=50)
                     if o.get("other_reference") == ref]
            number = found[0]["number"] if found else None
        if number is not None:
            with contextlib.suppress(NotFoundError):
                client.request("DELETE", f"orders/{int(number)}")
        with store.transaction() as conn:
            conn.execute("UPDATE contract_probes SET state = 'deleted', finished_at = ? "
                         "WHERE id = ?", (utcnow(), pid))
        done += 1
    return done


def run_write_probes(runtime: Any, store: Store, report: ContractReport) -> None:
    """Create the scratch draft order, judge Rackbeat's totals, delete it (always)."""
    client = runtime.rackbeat()
    # The probe asks the account itself: its line goes out as written, whatever was recorded.
    recorded, client.line_price_is_total = client.line_price_is_total, False
    try:
        _scratch_order(runtime, client, store, report)
    finally:
        client.line_price_is_total = recorded


def _scratch_order(runtime: Any, client: RackbeatClient, store: Store,
                   report: ContractReport) -> None:
    cleanup_write_probes(client, store)
    customer, item = _probe_customer_and_item(runtime)
    assumption = "line_price is the unit price ex. VAT; discount and VAT rounded per line"
    want = expected_line_amounts()
    expected = ", ".join(f"{k} {v:.2f}" for k, v in want.items())
    if customer is None or item is None:
        report.add(Probe("rackbeat", assumption, expected, "no customer or item to test with",
                         CANNOT_TELL, (ORDERS,)))
        return
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO contract_probes (kind, state, started_at) VALUES "
                           "('draft-order', 'creating', ?)", (utcnow(),))
        pid = int(cur.lastrowid or 0)
    body = {"customer_id": customer, "other_reference": PROBE_REFERENCE.format(id=pid),
            "heading": "rackshop check --contract scratch order (deleted at once)",
            "lines": [{"item_id": item, "name": "rackshop contract probe", **PROBE_LINE}]}
    try:
        created = client.create("orders", body, path="orders/drafts")
        number = created.get("number")
        with store.transaction() as conn:
            conn.execute("UPDATE contract_probes SET record = ?, state = 'created', detail = ? "
                         "WHERE id = ?", (number, json.dumps({"customer": customer,
                                                              "item": item}), pid))
        order = client.get_one("orders", int(number)) if number is not None else created
        observed, verdict, meaning = judge_line_price(order)
        report.add(Probe("rackbeat", assumption, expected, observed, verdict, (ORDERS,),
                         "line_price", meaning))
    finally:
        cleanup_write_probes(client, store)
    report.calls += 4
