"""sync-products (Rackbeat master) writes many creates, or many updates, as Shopify bulk mutations.

Above ``products.bulk_above`` creates in one pass, the ``productSet`` creates go as one bulk
mutation (the JSONL of their variables staged, ``bulkOperationRunMutation``, polled, the result
file read back line by line) and the products made are published with a second one
(``publishablePublish``). Each line's answer is recorded exactly as the answer of a single call
(:meth:`RackbeatMaster.created`, :meth:`~RackbeatMaster.published`): the same store effects, the
same failures per SKU, the same report counts. A shop that already runs as many bulk mutations as
Shopify allows gets its writes one call each.

Above ``bulk_above`` products to update, the narrow update writes go the same way: the product
fields (``productUpdate``) as one bulk mutation, then the variants of the products whose fields
went through (``productVariantsBulkUpdate``, 250 to a line) as a second; each answer is recorded
as one call's (:meth:`RackbeatMaster.product_answered`, :meth:`~RackbeatMaster.variants_answered`).
Updates set values, so they are not journalled: a killed pass leaves the next one to compare and
write what still differs.

Killed mid-operation: the journal (``products_store.BulkJournal``) is written before the
operation starts and gets its id as soon as Shopify answers; the next pass finds it before it
plans anything, waits for that operation if it still runs, and records its result instead of
starting another. A start whose answer was lost is found by the alias its mutation carries.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rackshop.errors import OutcomeUnknownError, RecordError, ShopifyUserErrors
from rackshop.shopify.bulk import (
    BulkMutationBusy,
    bulk_mutation_text,
    find_bulk_mutation,
    jsonl_bytes,
    mutation_results,
    stage_jsonl,
    start_bulk_mutation,
    wait_for_bulk_operation,
)
from rackshop.shopify.client import parse_user_errors
from rackshop.store import utcnow
from rackshop.sync.product_map import DesiredShopify, product_create_input
from rackshop.sync.product_state import RackbeatItem
from rackshop.sync.products_store import BulkJournal
from rackshop.sync.products_writes import (
    ProductWrite,
    product_update_variables,
    publish_variables,
    variant_chunks,
    variants_variables,
)

if TYPE_CHECKING:
    from rackshop.sync.products_to_shopify import RackbeatMaster

log = logging.getLogger("rackshop.products")

#: The largest JSONL file sent at once: below Shopify's 100 MB upload limit.
MAX_FILE_BYTES = 90 * 1024 * 1024
#: The packaged mutation and the result root of each kind of bulk write.
DOCUMENTS = {"create": ("ProductSetCreate", "productSet"),
             "publish": ("PublishablePublish", "publishablePublish"),
             "update": ("ProductUpdate", "productUpdate"),
             "variants": ("ProductVariantsBulkUpdate", "productVariantsBulkUpdate")}

Create = tuple[str, DesiredShopify, str, RackbeatItem]


def _chunks(lines: Sequence[Mapping[str, Any]], limit: int) -> Iterator[tuple[int, int]]:
    """(start, end) ranges of ``lines`` whose JSONL stays within ``limit`` bytes."""
    start, size = 0, 0
    for n, line in enumerate(lines):
        one = len(jsonl_bytes([line]))
        if n > start and size + one > limit:
            yield start, n
            start, size = n, 0
        size += one
    if start < len(lines):
        yield start, len(lines)


class BulkWrites:
    """The bulk writes of one Rackbeat-master pass (see the module doc)."""

    def __init__(self, pass_: RackbeatMaster) -> None:
        self.p = pass_
        self.above = pass_.shop.products.bulk_above

    def wanted(self, count: int) -> bool:
        """Whether ``count`` writes of a kind go as a bulk mutation."""
        return bool(self.above) and count > self.above

    # -- settling what a killed pass left -----------------------------------------------------

    def resume(self, items: Mapping[str, RackbeatItem | None]) -> set[str]:
        """Settle the bulk mutations a previous pass journalled and did not finish; returns the
        SKU keys whose create it settled (the plan leaves them alone). ``items``: the Rackbeat
        item of each candidate key."""
        p = self.p
        done: set[str] = set()
        # publish first: settling a create publishes what it made, which journals a publish of
        # its own in the place of one a previous pass left
        for kind in ("publish", "create"):
            journal = p.pstore.bulk_journal(p.name, kind)
            if journal is None:
                continue
            op_id = journal.op or find_bulk_mutation(p.shopify, journal.alias)
            why = None if op_id is not None or kind != "create" else p.still_landing(
                f"the bulk mutation {journal.alias}", journal.at)
            if why is not None:  # started late, it would make every product a second time
                for line in journal.lines:
                    p.fail(line[1], f"not created: {why}")
                done.update(line[0] for line in journal.lines)
                continue  # the journal stays, and no other bulk create starts (left_open)
            if op_id is None:  # the start never reached Shopify: nothing was written
                log.info("%s: a journalled bulk %s never started; planned afresh", p.name, kind)
                if kind == "create":
                    p.pstore.publish_marks(p.name, (line[0] for line in journal.lines), False)
                p.pstore.set_bulk_journal(p.name, kind, None)
                continue
            log.info("%s: settling the bulk %s %s a previous pass left", p.name, kind, op_id)
            journal.op = op_id
            made = self.finish(kind, journal, items)
            if kind == "create":
                done.update(line[0] for line in journal.lines)
                self.publish(made)
        return done

    # -- creates and publishing --------------------------------------------------------------

    def create(self, creates: Sequence[Create]) -> list[Create]:
        """Send ``creates`` as bulk mutations; returns those to write one call each (the shop
        runs as many bulk mutations as it allows)."""
        p = self.p
        if self.left_open("create"):  # a previous pass's start may still land (see resume)
            for _, desired, _, _ in creates:
                p.fail(desired.sku, "not sent: a previous pass's bulk create got no answer and "
                       "may still start; this product is created once that is settled")
            return []
        try:
            locations = p.locations()
            p.publications()  # unknown channel names stop the creates, before any is made
        except RecordError as exc:
            for _, desired, _, _ in creates:
                p.fail(desired.sku, f"Shopify refused to create the product: {exc.message}")
            return []
        lines = [{"input": product_create_input(desired, locations)}
                 for _, desired, _, _ in creates]
        items = {key: item for key, _, _, item in creates}
        for start, end in _chunks(lines, MAX_FILE_BYTES):
            journal = [[key, desired.sku, rb] for key, desired, rb, _ in creates[start:end]]
            made = self.run("create", lines[start:end], journal, items)
            if made is None:
                return list(creates[start:])
            self.publish(made)
            if self.left_open("create"):
                for _, desired, _, _ in creates[end:]:
                    p.fail(desired.sku, "not sent: an earlier bulk mutation of this pass got no "
                           "answer; the next pass settles it, then creates this product")
                return []
        return []

    def publish(self, made: Sequence[tuple[str, str, str]]) -> None:
        """Publish created products ``(key, sku, product id)``: as a bulk mutation when there
        are many, else one call each."""
        p = self.p
        if not made:
            return
        if not self.wanted(len(made)):
            for key, sku, product_id in made:
                p.publish(key, sku, product_id)
            return
        pubs = p.channels_for([(key, sku) for key, sku, _ in made])
        if not pubs:
            return
        lines = [publish_variables(product_id, pubs) for _, _, product_id in made]
        for start, end in _chunks(lines, MAX_FILE_BYTES):
            if self.run("publish", lines[start:end], [list(m) for m in made[start:end]],
                        {}) is None:
                for key, sku, product_id in made[start:]:
                    p.publish(key, sku, product_id)
                return
            if self.left_open("publish"):  # the rest keep their marks: the next pass publishes
                return

    def left_open(self, kind: str) -> bool:
        """Whether a bulk mutation of ``kind`` whose start got no answer is still journalled
        for the next pass to settle: starting another now would overwrite that journal (and
        run beside an operation that may be running)."""
        return self.p.pstore.bulk_journal(self.p.name, kind) is not None

    # -- updates ------------------------------------------------------------------------------

    def update(self, writes: Sequence[ProductWrite],
               cands: Mapping[str, Any]) -> list[ProductWrite]:
        """Send the update writes of many products as bulk mutations: the product fields
        (``productUpdate``) first, then the variants of the products whose fields went through
        (``productVariantsBulkUpdate``, 250 to a line). Updates set values, so they need no
        journal: a pass killed meanwhile leaves the next to compare and write again. Returns the
        writes to send one call each (the shop was busy before anything was written)."""
        p = self.p
        answers = {w.product_id: p.update_answers(w, cands) for w in writes}
        failed: set[int] = set()  # id() of the writes that failed: the rest go on
        with_fields = [w for w in writes if w.product_changes]
        if with_fields:
            results = self.lines("update", [product_update_variables(w) for w in with_fields])
            if results is None:
                return list(writes)
            for w, (payload, why) in zip(with_fields, results, strict=True):
                try:
                    if payload is None:
                        raise RecordError(why)
                    p.product_answered(answers[w.product_id], payload)
                except RecordError as exc:
                    p.update_failed(w, answers[w.product_id], exc)
                    failed.add(id(w))
        jobs = [(w, chunk) for w in writes if id(w) not in failed
                for chunk in variant_chunks(w)]
        results = self.lines("variants", [variants_variables(w, c) for w, c in jobs]) \
            if jobs else []
        if results is None:  # busy now: the variants one call each (the fields are written)
            for w in writes:
                if id(w) in failed:
                    continue
                try:
                    p.send_variants(w, answers[w.product_id])
                except (RecordError, OutcomeUnknownError) as exc:
                    p.update_failed(w, answers[w.product_id], exc)
                    failed.add(id(w))
        else:
            for (w, chunk), (payload, why) in zip(jobs, results, strict=True):
                if id(w) in failed:
                    continue
                try:
                    if payload is None:
                        raise RecordError(why)
                    p.variants_answered(answers[w.product_id], chunk, payload)
                except RecordError as exc:
                    p.update_failed(w, answers[w.product_id], exc)
                    failed.add(id(w))
        for w in writes:
            if id(w) not in failed:
                p.update_done(w, cands, answers[w.product_id])
        return []

    def lines(self, kind: str, lines: Sequence[Mapping[str, Any]]
              ) -> list[tuple[dict[str, Any] | None, str]] | None:
        """Run ``lines`` as one bulk mutation without a journal; per line (its payload, or
        ``None`` and why not), or ``None`` when the shop is busy (nothing was written)."""
        alias = f"rackshop_{kind}_{secrets.token_hex(6)}"
        try:
            op_id = self.start(kind, lines, alias)
        except OutcomeUnknownError:
            op_id = find_bulk_mutation(self.p.shopify, alias)
            if op_id is None:
                return [(None, "no answer from Shopify to the bulk mutation; tried again on "
                         "the next pass")] * len(lines)
        return None if op_id is None else self.answers(kind, op_id, len(lines))

    # -- one bulk mutation -------------------------------------------------------------------

    def start(self, kind: str, lines: Sequence[Mapping[str, Any]], alias: str) -> str | None:
        """Stage ``lines`` and start the mutation of ``kind``; its operation id, or ``None``
        when the shop already runs as many bulk mutations as it allows.

        Raises:
            OutcomeUnknownError: The start's answer was lost.
        """
        p = self.p
        path = stage_jsonl(p.shopify, jsonl_bytes(lines))
        try:
            return start_bulk_mutation(p.shopify, bulk_mutation_text(DOCUMENTS[kind][0], alias),
                                       path, alias)
        except BulkMutationBusy as exc:
            log.info("%s: %s; %d %s writes go one call each", p.name, exc.message, len(lines),
                     kind)
            return None

    def answers(self, kind: str, op_id: str, count: int
                ) -> list[tuple[dict[str, Any] | None, str]]:
        """Wait for an operation of ``count`` lines; per line its answer (the mutation's
        payload), or ``None`` and why there is none."""
        p = self.p
        op = wait_for_bulk_operation(p.shopify, op_id, failed_too=True)
        root = DOCUMENTS[kind][1]
        out: list[tuple[dict[str, Any] | None, str]] = [
            (None, f"the bulk mutation ended {op.get('status')} before this {root}; the next "
             "pass finds what it did and writes nothing twice")] * count
        seen: set[int] = set()
        for number, line in mutation_results(p.shopify, op):
            if not 0 <= number < count or number in seen:
                continue
            seen.add(number)
            payload = next(iter((line.get("data") or {}).values()), None)
            if line.get("errors") or not isinstance(payload, dict):
                why = "; ".join(str(e.get("message")) for e in line.get("errors") or []
                                if isinstance(e, dict)) or "no answer for it"
                out[number] = (None, f"Shopify refused the {root} of the bulk mutation: {why}")
            else:
                out[number] = (payload, "")
        return out

    def run(self, kind: str, lines: Sequence[Mapping[str, Any]], journal_lines: list[list[str]],
            items: Mapping[str, RackbeatItem | None]) -> list[tuple[str, str, str]] | None:
        """Stage ``lines``, start the mutation (journalled first), wait and record its result.
        Returns the products created (``create``), or ``None`` when the shop is busy with other
        bulk mutations (nothing was written)."""
        p = self.p
        journal = BulkJournal(f"rackshop_{kind}_{secrets.token_hex(6)}", journal_lines,
                              at=utcnow())
        # The journal first: a pass killed before the start is settled by clearing the marks.
        p.pstore.set_bulk_journal(p.name, kind, journal)
        if kind == "create":  # as before a single create: published once it is made
            p.pstore.publish_marks(p.name, (line[0] for line in journal_lines), True)
        try:
            journal.op = self.start(kind, lines, journal.alias)
        except OutcomeUnknownError:
            # The start left after the staged upload (which may take minutes): the wait for a
            # start that may still land counts from now, not from the journal's first stamp.
            journal.at = utcnow()
            journal.op = find_bulk_mutation(p.shopify, journal.alias)
            if journal.op is None:  # the journal stays: the next pass settles it
                p.pstore.set_bulk_journal(p.name, kind, journal)
                for line in journal_lines:
                    p.fail(line[1], "no answer from Shopify to the bulk mutation; the next pass "
                           "finds it if it started (and writes nothing twice)")
                return []
        else:
            if journal.op is None:
                p.pstore.set_bulk_journal(p.name, kind, None)
                if kind == "create":
                    p.pstore.publish_marks(p.name, (line[0] for line in journal_lines), False)
                return None
        p.pstore.set_bulk_journal(p.name, kind, journal)
        return self.finish(kind, journal, items)

    def finish(self, kind: str, journal: BulkJournal,
               items: Mapping[str, RackbeatItem | None]) -> list[tuple[str, str, str]]:
        """Wait for a journalled operation, record each line's answer, drop the journal.
        Returns the products it created (``create``)."""
        p = self.p
        assert journal.op is not None
        root = DOCUMENTS[kind][1]
        made: list[tuple[str, str, str]] = []
        results = self.answers(kind, journal.op, len(journal.lines))
        for (key, sku, extra), (payload, why) in zip(journal.lines, results, strict=True):
            if payload is None:
                p.fail(sku, why)
            elif kind == "create":
                product_id = p.created(key, sku, extra, items.get(key), payload)
                if product_id is not None:
                    made.append((key, sku, product_id))
            else:
                errors = parse_user_errors(payload)
                if errors:
                    p.not_published(sku, ShopifyUserErrors(root, errors).message)
                else:
                    p.published(key)
        p.pstore.set_bulk_journal(p.name, kind, None)
        return made
