"""sync-stock's Shopify writes: one idempotency key per intended write, journalled first.

See :class:`Writes`; the journal is the ``stock_batches`` table (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rackshop.errors import ShopifyUserErrors, UserErrorItem
from rackshop.log import event
from rackshop.shopify.client import ShopifyClient, parse_user_errors
from rackshop.store import Store, utcnow
from rackshop.sync.runner import ShopResult

log = logging.getLogger("rackshop.stock")

#: How often a write is sent again while Shopify still works on the same key.
CONCURRENT_ATTEMPTS = 3
#: A write journalled as sent but never answered (a crash) is sent again, with its key, by the
#: next pass within this window; older ones are left to the comparison with Shopify's levels.
REPLAY_WINDOW = timedelta(hours=1)
#: userError codes a write handles itself (the rest fail the rows they name).
HANDLED_CODES = ("CHANGE_FROM_QUANTITY_STALE", "ITEM_NOT_STOCKED_AT_LOCATION",
                 "INVALID_INVENTORY_ITEM", "IDEMPOTENCY_CONCURRENT_REQUEST",
                 "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")


class Writes:
    """Idempotent Shopify writes with a key made per intended write and journalled first.

    ``stock_batches`` holds each write: its key, the document, the variables, and whether it
    was answered. A write is journalled ``sent`` before the request leaves and marked ``done``
    (or ``refused``) with the answer; a row still ``sent`` at the next pass (a crash, an answer
    that never came) is sent again with its own key within :data:`REPLAY_WINDOW`, so Shopify
    applies it at most once.

    Shopify's idempotency answers: ``IDEMPOTENCY_CONCURRENT_REQUEST`` (the same key is still being
    worked on) waits and sends the same key again; ``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`` and
    ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH`` send the write once more with a new key (Shopify's
    documented handling); neither is ever taken for success.
    """

    def __init__(self, client: ShopifyClient, store: Store | None, shop: str,
                 result: ShopResult, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.store = store
        self.shop = shop
        self.result = result
        self.sleep = sleep

    def send(self, document: str, root: str, variables: Mapping[str, Any], *,
             skus: Sequence[str]) -> dict[str, Any] | None:
        """Send a write with a new key; the payload, or ``None`` when it could not be settled.

        Returns the payload with its userErrors (those not about idempotency) for the caller.
        """
        for fresh in range(2):
            key = "rackshop-" + uuid.uuid4().hex
            self._journal(key, document, root, variables, "sent")
            payload = self._send_key(key, document, root, variables)
            if payload is None:
                return None
            codes = {e.code for e in parse_user_errors(payload) if e.code}
            if codes & {"IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}:
                self._mark(key, "refused")
                log.warning("%s: Shopify refused key %s (%s); sending with a new key", self.shop,
                            key, ", ".join(sorted(codes)))
                if fresh:
                    for sku in skus:
                        self.result.fail(sku, "Shopify refused the write's idempotency key "
                                         "twice; the next pass sends it again")
                    return None
                continue
            self._mark(key, "refused" if codes else "done")
            return payload
        return None  # pragma: no cover - the loop returns

    def _send_key(self, key: str, document: str, root: str,
                  variables: Mapping[str, Any]) -> dict[str, Any] | None:
        """Send with ``key``, waiting out ``IDEMPOTENCY_CONCURRENT_REQUEST`` (same key).

        Raises:
            ShopifyUserErrors: Shopify refused the write for a reason no row-level handling
                covers (the key is marked refused).
        """
        for attempt in range(CONCURRENT_ATTEMPTS):
            try:
                payload = self.client.mutate(document, {**variables, "key": key}, root=root,
                                             idempotent=True, allow_codes=HANDLED_CODES)
            except ShopifyUserErrors:
                self._mark(key, "refused")
                raise
            codes = {e.code for e in parse_user_errors(payload)}
            if "IDEMPOTENCY_CONCURRENT_REQUEST" not in codes:
                return payload
            self.sleep(0.5 * (attempt + 1))
        self.result.bump("unanswered")
        log.warning("%s: Shopify still works on write %s; the next pass sends it again",
                    self.shop, key)
        return None  # stays "sent": replayed with its key by the next pass

    def replay_unanswered(self) -> None:
        """Send again, with their own keys, the writes a killed pass left unanswered."""
        assert self.store is not None
        rows = self.store.conn.execute(
            "SELECT idempotency_key, payload, created_at FROM stock_batches "
            "WHERE shop = ? AND state = 'sent' ORDER BY created_at", (self.shop,)).fetchall()
        cutoff = datetime.now(UTC) - REPLAY_WINDOW
        for row in rows:
            body = _loads(row["payload"])
            created = _parse_time(row["created_at"])
            if body is None or created is None or created < cutoff:
                self._mark(row["idempotency_key"], "abandoned")
                continue
            try:
                payload = self._send_key(row["idempotency_key"], body["document"],
                                         body["root"], body["variables"])
            except ShopifyUserErrors:
                continue  # refused now; the comparison with Shopify's levels follows
            if payload is None:
                continue
            codes = {e.code for e in parse_user_errors(payload)}
            self._mark(row["idempotency_key"], "refused" if codes else "done")
            self.result.bump("replayed")
            event(log, f"{self.shop}: sent again write {row['idempotency_key']} of a pass "
                  "that did not finish", shop=self.shop, outcome="refused" if codes else "done")

    def _journal(self, key: str, document: str, root: str, variables: Mapping[str, Any],
                 state: str) -> None:
        if self.store is None:
            return
        body = json.dumps({"document": document, "root": root, "variables": variables},
                          sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO stock_batches (idempotency_key, shop, payload_hash, state, payload, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, self.shop, digest, state, body, utcnow(), utcnow()))

    def _mark(self, key: str, state: str) -> None:
        if self.store is None:
            return
        with self.store.transaction() as c:
            c.execute("UPDATE stock_batches SET state = ?, updated_at = ? "
                      "WHERE idempotency_key = ?", (state, utcnow(), key))


def applied(payload: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(location, item) pairs whose available quantity Shopify's answer says it changed."""
    group = payload.get("inventoryAdjustmentGroup") or {}
    return {(str((c.get("location") or {}).get("id")), str((c.get("item") or {}).get("id")))
            for c in group.get("changes") or []
            if c.get("name") == "available" and c.get("delta")}


def indexes(errors: Sequence[UserErrorItem], code: str) -> set[int]:
    """Positions in the batch that userErrors with ``code`` point at (field input.quantities.N)."""
    out: set[int] = set()
    for e in errors:
        if e.code != code or not e.field:
            continue
        for part in e.field:
            if part.isdigit():
                out.add(int(part))
                break
    return out


def _loads(text: str | None) -> dict[str, Any] | None:
    try:
        body = json.loads(text or "")
    except ValueError:
        return None
    if isinstance(body, dict) and {"document", "root", "variables"} <= body.keys():
        return body
    return None  # a row of an older rackshop: no replayable write


def _parse_time(text: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
