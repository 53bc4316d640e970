"""The core of `rackshop orders list | resolve | retry`: the journal rows that need a person, an
order marked handled by hand, a refused order sent again. Reads and writes only the state store.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from rackshop.errors import UsageError
from rackshop.store import Store, utcnow
from rackshop.sync.orders import JOB

#: Journal states of an order that needs a person or is not finished, shown by ``orders list``.
LISTED_STATES = ("failed", "held", "stopped", "creating", "created", "waiting")

#: Of those, the ones that need a person (``status`` counts them).
ATTENTION_STATES = ("failed", "held", "stopped", "creating", "created")


def order_kind(row: Mapping[str, Any]) -> str:
    """What a listed journal row is, in the words of ``orders list``."""
    state = str(row["state"])
    detail = row.get("detail") or {}
    if state == "failed":
        refused = detail.get("refused")
        return "refused" if refused and not refused.get("retry") else "failed"
    if state in ("creating", "created"):
        return "half-done"
    return state


def needs_attention(row: Mapping[str, Any]) -> bool:
    """Whether a journal row needs a person (a stopped order whose draft was removed does not)."""
    if row["state"] == "stopped":
        return not ((row.get("detail") or {}).get("stopped") or {}).get("draft_removed")
    return row["state"] in ATTENTION_STATES


def list_orders(store: Store | None, shops: Collection[str]) -> list[dict[str, Any]]:
    """Orders that failed, were refused, held, stopped, are half-done or waiting, with reasons.

    Args:
        store: The state store (``None``: nothing has run yet).
        shops: The shops to list.
    """
    if store is None:
        return []
    listed = []
    for row in store.journal_states(LISTED_STATES):
        if row["shop"] not in shops:
            continue
        listed.append({
            "shop": row["shop"], "order": row["order_name"], "kind": order_kind(row),
            "state": row["state"], "rackbeat_order": row["rackbeat_number"],
            "attention": needs_attention(row), "attempts": row["attempts"],
            "reason": row["reason"] or "", "since": row["updated_at"],
            "shopify_order_id": row["shopify_order_id"],
        })
    return listed


def attention_count(store: Store | None, shops: Collection[str]) -> int:
    """How many orders need a person (``rackshop status``)."""
    return sum(1 for o in list_orders(store, shops) if o["attention"])


def _named_row(store: Store, shop: str, name: str) -> dict[str, Any]:
    row = store.journal_by_name(shop, name)
    if row is None:
        raise UsageError(
            f"shop {shop!r} has no order {name!r} in rackshop's journal",
            hint="`rackshop orders list` shows the orders rackshop knows of (give the name as "
                 "Shopify shows it, e.g. '#1001', quoted for the shell)")
    return row


def resolve_order(store: Store, shop: str, name: str) -> dict[str, Any]:
    """Mark an order handled by hand: state ``resolved``.

    It no longer fails sync-orders and no longer counts as on its way for sync-stock (the
    person who entered it in Rackbeat made Rackbeat hold it). Resolving twice is harmless.

    Returns:
        The journal row as it was before.

    Raises:
        UsageError: No such order in the journal, or it was transferred or skipped normally.
    """
    row = _named_row(store, shop, name)
    state = row["state"]
    if state in ("done", "skipped"):
        raise UsageError(
            f"{row['order_name']} in shop {shop!r} needs no resolving: it is {state} "
            f"({row['reason'] or 'transferred' if state == 'done' else row['reason']})")
    if state != "resolved":
        reason = f"handled by hand (rackshop orders resolve, {utcnow()[:10]}); was {state}"
        if row["reason"]:
            reason += f": {row['reason']}"
        store.journal_put(shop, row["shopify_order_id"], state="resolved", reason=reason,
                          detail={"resolved": {"was": state, "at": utcnow()}})
        store.clear_failure(JOB, shop, str(row["order_name"]))
    return row


def request_retry(store: Store, shop: str, name: str) -> dict[str, Any]:
    """Ask for a refused order to be sent again, though nothing changed.

    Returns:
        The journal row as it was before.

    Raises:
        UsageError: No such order, or it is not a failed order (only those are retried).
    """
    row = _named_row(store, shop, name)
    if row["state"] != "failed":
        hint = {"held": "fix it in Rackbeat by hand, then `rackshop orders resolve`",
                "stopped": "it was cancelled or refunded in Shopify; `rackshop orders resolve` "
                           "once Rackbeat is tidied",
                "creating": "the next sync-orders pass resumes it by itself",
                "created": "the next sync-orders pass resumes it by itself",
                "waiting": "it waits for its trigger (orders.transfer_on)"}.get(
                    row["state"], "only failed orders are retried")
        raise UsageError(f"{row['order_name']} in shop {shop!r} is {row['state']}, not failed: "
                         + hint)
    refused = dict((row.get("detail") or {}).get("refused") or {})
    store.journal_put(shop, row["shopify_order_id"],
                      detail={"refused": {**refused, "retry": True}})
    return row
