"""init-sync's apply: Rackbeat re-read and compared with the preview, journalled product creates,
adjustments created then booked (unknown outcomes settled by reading Rackbeat), the CSV report.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    NotFoundError,
    OutcomeUnknownError,
    RecordError,
    SafetyStopError,
    ValidationError,
)
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.store import utcnow
from rackshop.sync.initial_preview import InitPreview, fmt_units, signed_units
from rackshop.sync.initial_spool import RACKBEAT_PAGE, SPOOL_BATCH, read_rackbeat, to_decimal
from rackshop.sync.initial_store import (
    ADJUSTMENT,
    PRODUCT,
    RUN,
    adjustment_key,
    open_journal,
    product_key,
)
from rackshop.sync.moments import still_landing
from rackshop.sync.pool import PassScopes, run_side_by_side
from rackshop.sync.product_values import json_number, sku_key
from rackshop.sync.runner import OptionalProgress, ProgressSink, ShopResult

log = logging.getLogger("rackshop.initial")

#: Attempts per create or book within one run before the record is left for the next run.
WRITE_ATTEMPTS = 3

#: Examples named in a refusal message.
EXAMPLES = 8

#: Import writes ask Rackbeat not to fire its webhooks (reference 2.8): Rackbeat's own apps
#: (its Shopify app among them) must not react to a bulk import.
SUPPRESS = {"suppress_webhooks": "true"}

REPORT_COLUMNS = ("record", "sku", "rackbeat_number", "shopify_variant", "name", "action",
                  "outcome", "rackbeat_location", "shopify_quantity", "rackbeat_before",
                  "rackbeat_after", "reason")
"""Columns of the report file."""


@dataclass
class Settled:
    """What reading Rackbeat says about one adjustment."""

    status: str  # booked | draft | absent | superseded
    id: int | None = None
    current: Decimal | None = None


class Apply:
    """One shop's apply."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, preview: InitPreview,
                 result: ShopResult, progress: ProgressSink | None,
                 report_path: Path | None) -> None:
        self.runtime = runtime
        self.shop = shop
        self.preview = preview
        self.spool = preview._spool
        # With workers, each record reports apart; merged in the plan's order (sync.pool).
        self.scopes: PassScopes[None] = PassScopes(result, [])
        self.progress = progress
        self.bars = OptionalProgress(progress)
        self.report_path = report_path
        self.rb = runtime.rackbeat()
        self.gen = preview.generation
        self.marker = preview.marker
        self.journal = open_journal(runtime, shop.name, write=True)
        self.today = datetime.now().astimezone().date().isoformat()
        self.failed_keys: set[str] = set()

    @property
    def result(self) -> ShopResult:
        """The result the calling worker's record reports to (the shop's with one worker)."""
        return self.scopes.result

    # -- guard -------------------------------------------------------------------------------

    def check_journal(self) -> None:
        latest = self.journal.latest()
        p = self.preview
        if p.resumed:
            ok = latest is not None and latest.generation == p.generation and not latest.completed
        elif p.generation == 1:
            ok = latest is None
        else:
            ok = latest is not None and latest.generation == p.generation - 1 and latest.completed
        if not ok:
            raise SafetyStopError(
                f"shop {self.shop.name}: the init-sync journal changed since the preview "
                f"(another init-sync ran meanwhile); nothing was written",
                hint="run init-sync again to see a fresh preview")

    def recheck(self) -> None:
        """Refuse, before writing, if Rackbeat changed in a way that invalidates the preview."""
        self.spool.conn.execute("DELETE FROM rb_items WHERE snap = 'now'")
        self.spool.conn.execute("DELETE FROM rb_stock WHERE snap = 'now'")
        read_rackbeat(self.rb, self.spool, "now", stock=not self.preview.skip_inventory,
                       progress=self.progress, shop=self.shop.name)
        c = self.spool.conn
        problems: list[str] = []
        for sku, number in c.execute(
                "SELECT p.sku, n.number FROM plan_products p JOIN rb_items n "
                "ON n.snap = 'now' AND n.key = p.key WHERE p.action = 'create' "
                "AND p.state = 'todo'"):
            problems.append(f"{sku} now exists in Rackbeat (as {number}); it was to be created")
        for sku, now_type, keeps in c.execute(
                "SELECT p.sku, n.type, n.keeps_stock FROM plan_products p "
                "JOIN rb_items o ON o.snap = 'preview' AND o.key = p.key "
                "LEFT JOIN rb_items n ON n.snap = 'now' AND n.key = p.key "
                "WHERE p.action = 'link' AND (n.key IS NULL OR n.type != o.type "
                "OR n.keeps_stock != o.keeps_stock)"):
            problems.append(f"{sku} changed in Rackbeat (" + (
                "deleted" if now_type is None else f"now a {now_type}"
                f"{'' if keeps else ' without inventory'}") + ")")
        for sku, location, before, now in c.execute(
                "SELECT s.sku, s.location, s.before, COALESCE(n.qty, '0') FROM plan_stock s "
                "LEFT JOIN rb_stock n ON n.snap = 'now' AND n.key = s.key "
                "AND n.location = s.location WHERE s.action = 'register' AND s.state = 'todo'"):
            if Decimal(before) != Decimal(now):
                problems.append(f"{sku} at Rackbeat location {location}: stock is now "
                                f"{fmt_units(Decimal(now))}, was {fmt_units(Decimal(before))}")
        for number, g in sorted(self.preview.new_groups.items()):
            found = self.rb.find_one("product-groups", number)
            if found is not None and str(found.get("name") or "").strip().casefold() != \
                    str(g["name"]).casefold():
                problems.append(f"product group {number} (to be created as {g['name']!r}) now "
                                f"exists as {found.get('name')!r}")
        if problems:
            shown = "; ".join(problems[:EXAMPLES]) + (
                f"; and {len(problems) - EXAMPLES} more" if len(problems) > EXAMPLES else "")
            raise SafetyStopError(
                f"shop {self.shop.name}: Rackbeat changed since the preview, so it no longer "
                f"holds: {shown}. Nothing was written",
                hint="run init-sync again to see a fresh preview of what it would do now")

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        self.check_journal()
        self.recheck()
        run_key = str(self.gen)
        detail: dict[str, Any] = {"last_attempt_at": utcnow(),
                                  "skip_inventory": self.preview.skip_inventory,
                                  "overwrite_stock": self.preview.overwrite_stock}
        if not self.preview.resumed:
            detail["started_at"] = detail["last_attempt_at"]
        self.journal.put(RUN, run_key, "applying", detail)
        self.result.details["generation"] = self.gen
        self.result.counts.update({"products_created": 0, "products_linked":
                                   self.preview.counts.get("linked", 0)})
        self.create_groups()
        self.create_products()
        if not self.preview.skip_inventory:
            self.register_stock()
            self.sweep()
        self.tally()
        if self.report_path is not None:
            self.write_report(self.report_path)
            self.result.details["report"] = str(self.report_path)
        completed = self.result.outcome == "ok"
        self.result.details["completed"] = completed
        if completed:
            self.journal.put(RUN, run_key, "done", {
                "finished_at": utcnow(), "report": str(self.report_path or ""),
                "summary": dict(self.result.counts)})
            event(log, f"{self.shop.name}: init-sync #{self.gen} completed", shop=self.shop.name,
                  **{k: v for k, v in self.result.counts.items()})
        else:
            self.result.details["note"] = (
                "init-sync is not complete: run it again to finish (no --again needed); what is "
                "done is kept and nothing is counted twice")

    # -- products ----------------------------------------------------------------------------

    def create_groups(self) -> None:
        """The product groups the preview announced (``products.create_groups``), each once: a
        group with that number and name already there (an earlier attempt) is used as it is."""
        for number, g in sorted(self.preview.new_groups.items()):
            if self.rb.find_one("product-groups", number) is not None:
                continue  # made by an interrupted run (recheck proved it has the planned name)
            body = {"number": number, **g}
            try:
                self.rb.request("POST", "product-groups", body=body, idempotent=False)
            except OutcomeUnknownError:
                if self.rb.find_one("product-groups", number) is None:
                    raise
            self.result.bump("groups_created")
            log.debug("%s: product group %s %s created in Rackbeat", self.shop.name, number,
                      g["name"])

    def create_products(self) -> None:
        todo = int(self.spool.one("SELECT COUNT(*) FROM plan_products WHERE action = 'create' "
                                  "AND state = 'todo'") or 0)
        self.spool.conn.execute("UPDATE plan_products SET outcome = 'created earlier' "
                                "WHERE action = 'create' AND state = 'done'")
        if not todo:
            return
        self.bars.start(f"{self.shop.name}: creating products in Rackbeat", todo)
        self._each("plan_products",
                   "SELECT seq, key, sku, number, payload FROM plan_products "
                   "WHERE action = 'create' AND state = 'todo' AND seq > ? ORDER BY seq LIMIT ?",
                   lambda row: self.create_product(row[1], row[2], row[3], json.loads(row[4])))
        self.bars.finish()

    def _each(self, table: str, sql: str, act: Callable[[tuple[Any, ...]], tuple[str, str]]
              ) -> None:
        """``act`` on every row of ``sql`` (``seq, key, ...``; ``seq > ? ... LIMIT ?``), a
        batch at a time so memory stays flat, ``[http] workers`` rows at a time (one key's rows
        one after the other); each row's (outcome, reason) is written to ``table`` in this
        thread, the spool's only one."""
        done: dict[int, tuple[str, str]] = {}

        def work(row: tuple[Any, ...]) -> None:
            done[int(row[0])] = act(row)

        last = 0
        while True:
            batch = self.spool.conn.execute(sql, (last, SPOOL_BATCH)).fetchall()
            if not batch:
                return
            done.clear()
            try:
                run_side_by_side(batch, work, workers=self.runtime.config.http.workers,
                                 key=lambda row: row[1], scopes=self.scopes,
                                 store=self.journal.store, done=self.bars.advance)
            finally:
                self.spool.conn.executemany(
                    f"UPDATE {table} SET outcome = ?, reason = ? WHERE seq = ?",
                    [(outcome, reason, seq) for seq, (outcome, reason) in sorted(done.items())])
            last = int(batch[-1][0])

    def create_product(self, key: str, sku: str, number: str,
                       payload: Mapping[str, Any]) -> tuple[str, str]:
        jkey = product_key(self.gen, key)
        self.journal.put(PRODUCT, jkey, "creating", {"number": number, "attempt_at": utcnow()})
        for _ in range(WRITE_ATTEMPTS):
            try:
                self.rb.request("POST", "products", params=SUPPRESS, body=dict(payload),
                                idempotent=False)
            except ValidationError as exc:
                # Refused: either it exists (an earlier attempt whose answer was lost landed
                # late) or it is invalid. Reading tells which.
                if self._exists(number):
                    break
                reason = f"Rackbeat refused the new product: {exc.message}" + (
                    f" (check shops.{self.shop.name}.products.default_group)"
                    if "group" in exc.fields else "")
                self.journal.put(PRODUCT, jkey, "failed", {"reason": reason})
                return self._fail_product(key, sku, reason)
            except OutcomeUnknownError:
                # Settle by reading: numbers are unique, so it exists iff it was created.
                if self._exists(number):
                    break
                continue
            except RecordError as exc:
                self.journal.put(PRODUCT, jkey, "failed", {"reason": exc.message})
                return self._fail_product(key, sku, exc.message)
            break
        else:
            return self._fail_product(
                key, sku, f"no answer from Rackbeat to {WRITE_ATTEMPTS} creates, and it does not "
                "exist; run init-sync again (it settles this first, and creates nothing twice)")
        self.journal.put(PRODUCT, jkey, "created", {"number": number})
        self.result.bump("products_created")
        log.debug("%s: %s created in Rackbeat", self.shop.name, number)
        return "created", ""

    def _exists(self, number: str) -> bool:
        return self.rb.find_one("items", number) is not None

    def _fail_product(self, key: str, sku: str, reason: str) -> tuple[str, str]:
        self.failed_keys.add(key)
        self.result.fail(sku, reason)
        event(log, f"{self.shop.name}: {sku} not created: {reason}", logging.WARNING,
              shop=self.shop.name, sku=sku, reason=reason)
        return "failed", reason

    # -- stock -------------------------------------------------------------------------------

    def register_stock(self) -> None:
        c = self.spool.conn
        c.execute("UPDATE plan_stock SET outcome = 'registered earlier' "
                  "WHERE action = 'register' AND state = 'done'")
        c.execute("UPDATE plan_stock SET outcome = CASE action WHEN 'keep' THEN 'kept' "
                  "WHEN 'same' THEN 'unchanged' ELSE 'not imported' END "
                  "WHERE action != 'register'")
        todo = int(self.spool.one(
            "SELECT COUNT(*) FROM plan_stock WHERE action = 'register' "
            "AND state IN ('todo', 'resume')") or 0)
        if not todo:
            return
        self.bars.start(f"{self.shop.name}: registering stock in Rackbeat", todo)
        self._each("plan_stock",
                   "SELECT seq, key, sku, number, location, state, before, after FROM plan_stock "
                   "WHERE action = 'register' AND state IN ('todo', 'resume') AND seq > ? "
                   "ORDER BY seq LIMIT ?", self._register_row)
        self.bars.finish()

    def _register_row(self, row: tuple[Any, ...]) -> tuple[str, str]:
        _, key, sku, number, location, state, before, after = row
        if key in self.failed_keys:
            self.result.bump("stock_failed")
            return "failed", "not registered: the product could not be created"
        return self.register(key, sku, number, int(location), Decimal(before), Decimal(after),
                             state)

    def register(self, key: str, sku: str, number: str, location: int, before: Decimal,
                 after: Decimal, state: str) -> tuple[str, str]:
        """Register one adjustment (or finish one an earlier attempt began)."""
        jkey = adjustment_key(self.gen, key, location)
        record = {"number": number, "location": location, "before": str(before),
                  "after": str(after)}
        draft: int | None = None
        if state == "resume":
            found = self.settle(number, location, before, after)
            if found.status == "booked":
                return self._registered(jkey, sku, after - before, earlier=True)
            if found.status == "superseded":
                return self._superseded(jkey, sku, location, found.current)
            if found.status == "draft":
                draft = found.id
            elif (why := self._landing(sku, jkey)) is not None:
                return self._fail_stock(sku, location, why)
        for _ in range(WRITE_ATTEMPTS):
            if draft is None:
                self.journal.put(ADJUSTMENT, jkey, "creating", {**record,
                                                                "attempt_at": utcnow()})
                try:
                    answer = self.rb.request(
                        "POST", "inventory-adjustments", params=SUPPRESS, idempotent=False,
                        body={"item_id": number, "adjustment_type": "quantity",
                              "quantity": json_number(after), "location": location,
                              "regulated_at": self.today, "reason": self._reason(location)})
                    draft = int((answer.get("inventory_regulation") or answer)["id"])
                except (OutcomeUnknownError, ValidationError) as exc:
                    found = self.settle(number, location, before, after)
                    if found.status == "booked":
                        return self._registered(jkey, sku, after - before)
                    if found.status == "superseded":
                        return self._superseded(jkey, sku, location, found.current)
                    if found.status == "absent":
                        if isinstance(exc, ValidationError):
                            reason = f"Rackbeat refused the adjustment: {exc.message}"
                            self.journal.put(ADJUSTMENT, jkey, "failed", {"reason": reason})
                            return self._fail_stock(sku, location, reason)
                        if (why := self._landing(sku, jkey)) is not None:
                            return self._fail_stock(sku, location, why)
                        continue  # not created: try again
                    draft = found.id
                except RecordError as exc:
                    reason = f"Rackbeat refused the adjustment: {exc.message}"
                    self.journal.put(ADJUSTMENT, jkey, "failed", {"reason": reason})
                    return self._fail_stock(sku, location, reason)
            assert draft is not None
            self.journal.put(ADJUSTMENT, jkey, "created", {**record, "id": draft})
            if self.book(draft):
                return self._registered(jkey, sku, after - before)
            return self._fail_stock(sku, location, f"adjustment {draft} could not be booked; "
                                    "run init-sync again to book it")
        return self._fail_stock(
            sku, location, f"no answer from Rackbeat to {WRITE_ATTEMPTS} adjustments, and none "
            "exists; run init-sync again (it settles this first and counts nothing twice)")

    def _landing(self, sku: str, jkey: str) -> str | None:
        """Why an adjustment whose create got no answer, and that Rackbeat does not show, is
        not sent again yet (it may still land: two would count the stock twice), or ``None``.
        The journal row stays ``creating``: the next run settles it again."""
        row = self.journal.get(ADJUSTMENT, jkey)
        attempt_at = row[1].get("attempt_at") if row and row[0] == "creating" else None
        return still_landing(f"the stock adjustment of {sku}", "Rackbeat", attempt_at,
                             datetime.now(UTC),
                             self.runtime.config.rackbeat.lost_answer_wait_seconds)

    def book(self, adjustment_id: int) -> bool:
        """Book a draft; ``True`` once it is booked (read back after any doubt)."""
        for _ in range(WRITE_ATTEMPTS):
            try:
                self.rb.request("POST", f"inventory-adjustments/{adjustment_id}/book",
                                params=SUPPRESS, body={}, idempotent=False)
                return True
            except (OutcomeUnknownError, ValidationError):
                pass  # settled by reading it back
            except NotFoundError:
                return False
            try:
                current = self.rb.get_one("inventory-adjustments", adjustment_id)
            except NotFoundError:
                return False
            if current.get("is_booked"):
                return True
        return False

    def settle(self, number: str, location: int, before: Decimal, after: Decimal) -> Settled:
        """What Rackbeat says about this init-sync's adjustment of ``number`` at ``location``.

        The adjustments of the item at the location that carry this init-sync's marker: a
        booked one means done; a draft is booked if the stock is still where it was planned
        from (else it would apply a stale difference: it is deleted). With none, the item's
        stock there decides: still ``before`` means nothing happened (absent); anything else
        means Rackbeat changed meanwhile (superseded).
        """
        ours = [a for a in self.rb.iter_list(
            "inventory-adjustments", {"simple_filter[item_id]": number,
                                      "simple_filter[location]": location}, page_size=100)
            if self.marker in str(a.get("reason") or "")]
        booked = [a for a in ours if a.get("is_booked")]
        drafts = [a for a in ours if not a.get("is_booked")]
        if booked:
            self._delete(drafts)
            return Settled("booked", int(booked[0]["id"]))
        current = self.stock_at(number, location)
        if drafts and current == before:
            keep = next((a for a in drafts if to_decimal(a.get("quantity")) == after), None)
            self._delete([a for a in drafts if a is not keep])
            if keep is not None:
                return Settled("draft", int(keep["id"]), current)
        else:
            self._delete(drafts)
        if current == before:
            return Settled("absent", None, current)
        return Settled("superseded", None, current)

    def stock_at(self, number: str, location: int) -> Decimal:
        """The item's on-hand stock at one location, read from the stock report."""
        for row in self.rb.iter_list("reports/checking", {"simple_filter[number]": number,
                                                          "show_all_locations": "true"}):
            if sku_key(str(row.get("number") or "")) != sku_key(number):
                continue
            for loc in row.get("locations") or []:
                if loc.get("number") is not None and int(loc["number"]) == location:
                    return to_decimal(loc.get("stock_quantity"))
        return Decimal(0)

    def sweep(self) -> None:
        """Delete this init-sync's unbooked drafts that no journal row waits to book."""
        keep = {int(d["id"]) for _, s, d in self.journal.rows(self.gen, ADJUSTMENT)
                if s == "created" and d.get("id") is not None}
        strays = [a for a in self.rb.iter_list(
            "inventory-adjustments", {"simple_filter[is_booked]": "false"}, page_size=RACKBEAT_PAGE)
            if self.marker in str(a.get("reason") or "") and not a.get("is_booked")
            and int(a["id"]) not in keep]
        self._delete(strays)

    def _delete(self, adjustments: Iterable[Mapping[str, Any]]) -> None:
        for a in adjustments:
            try:
                self.rb.request("DELETE", f"inventory-adjustments/{int(a['id'])}",
                                params=SUPPRESS)
                self.result.bump("stray_drafts_deleted")
            except (NotFoundError, ValidationError):
                pass  # gone already, or booked by someone: nothing to undo here

    def _reason(self, location: int) -> str:
        sources = ", ".join(self.preview.sources.get(location, ()))
        return f"{self.marker} opening stock from Shopify ({sources})"

    def _registered(self, jkey: str, sku: str, change: Decimal,
                    earlier: bool = False) -> tuple[str, str]:
        self.journal.put(ADJUSTMENT, jkey, "booked", {"booked_at": utcnow()})
        self.result.bump("stock_registered")
        self.result.bump("units_registered", int(change))
        log.debug("%s: %s stock registered (%s)", self.shop.name, sku, signed_units(change))
        return "registered", "" if not earlier else "booked by the interrupted run"

    def _superseded(self, jkey: str, sku: str, location: int,
                    current: Decimal | None) -> tuple[str, str]:
        reason = (f"not registered: Rackbeat's stock at location {location} changed meanwhile "
                  f"(now {fmt_units(current or Decimal(0))}); left as Rackbeat has it")
        self.journal.put(ADJUSTMENT, jkey, "superseded", {"reason": reason})
        self.result.bump("stock_superseded")
        event(log, f"{self.shop.name}: {sku} {reason}", logging.WARNING, shop=self.shop.name,
              sku=sku, location=location)
        return "superseded", reason

    def _fail_stock(self, sku: str, location: int, reason: str) -> tuple[str, str]:
        self.result.fail(f"{sku} @ {location}", reason)
        self.result.bump("stock_failed")
        event(log, f"{self.shop.name}: {sku} stock at {location} failed: {reason}",
              logging.WARNING, shop=self.shop.name, sku=sku, location=location, reason=reason)
        return "failed", reason

    # -- report ------------------------------------------------------------------------------

    def tally(self) -> None:
        c = self.spool.conn
        counts = self.result.counts
        counts["products_created_earlier"] = self.preview.counts.get("created_earlier", 0)
        counts["variants_without_sku"] = self.preview.counts.get("without_sku", 0)
        counts["duplicate_skus"] = self.preview.counts.get("duplicate_skus", 0)
        if self.preview.counts.get("invalid"):
            counts["not_mappable"] = self.preview.counts["invalid"]
        if self.preview.skip_inventory:
            return
        counts.setdefault("stock_registered", 0)
        counts.setdefault("units_registered", 0)
        counts["stock_registered_earlier"] = int(c.execute(
            "SELECT COUNT(*) FROM plan_stock WHERE outcome = 'registered earlier'").fetchone()[0])
        counts["stock_kept"] = self.preview.counts.get("stock_kept", 0)
        counts["stock_not_imported"] = self.preview.counts.get("stock_not_imported", 0)

    def write_report(self, path: Path) -> None:
        """The CSV report: one row per product decision, stock decision and note."""
        c = self.spool.conn
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(REPORT_COLUMNS)
            product_outcome = {"link": "linked", "no_sku": "skipped", "duplicate": "skipped",
                               "invalid": "skipped"}
            for sku, number, variant, label, name, action, outcome, reason in c.execute(
                    "SELECT sku, number, variant_id, label, name, action, outcome, reason "
                    "FROM plan_products ORDER BY seq"):
                shown = outcome or product_outcome.get(action, "created")
                w.writerow(["product", sku, number, variant or "", name or label, action, shown,
                            "", "", "", "", reason])
            for sku, number, location, action, before, after, shopify, outcome, reason in \
                    c.execute("SELECT sku, number, location, action, before, after, shopify, "
                              "outcome, reason FROM plan_stock ORDER BY seq"):
                done = outcome in ("registered", "registered earlier")
                w.writerow(["stock", sku, number, "", "", action, outcome, location, shopify,
                            fmt_units(Decimal(before)),
                            fmt_units(Decimal(after if done or action != "register" else before)),
                            reason])
            for sku, text in c.execute("SELECT sku, text FROM notes ORDER BY seq"):
                w.writerow(["note", sku, "", "", "", "", "", "", "", "", "", text])
        os.replace(tmp, path)

