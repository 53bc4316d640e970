"""What ``sync-products`` keeps in the state store, over the existing tables.

* ``mappings`` (shop, sku): the Shopify product, variant and inventory item of every SKU that
  exactly one variant of the shop holds. ``sku`` is the SKU exactly as Shopify spells it; lookups
  go through :func:`~rackshop.sync.product_values.sku_key` (trimmed, case-folded), as Rackbeat
  matches numbers. SKUs held by several variants are **not** in ``mappings`` (no job may write to
  an ambiguous SKU); they are kept under ``record_hashes`` job ``sync-products:duplicates``
  (key: the SKU key, hash: a JSON list of the holders), so the SKU becomes mappable again when
  all but one holder change. A table of their own would be cleaner: see the report.
* ``record_hashes`` job ``sync-products:links`` (key: the Rackbeat item id): the **link** between
  a Rackbeat item and one Shopify variant of the shop (:class:`Link`). The link, not the SKU, is
  the identity: a SKU edited in Shopify or a number renamed in Rackbeat leaves it in place, so
  the job repairs the other side instead of creating a second product. It also records which
  Shopify fields hold a value that came from Rackbeat (``owned``; see docs/products.md).
* ``record_hashes`` job ``sync-products`` (key: SKU key): what the job last wrote or verified,
  for echo-proofing. Rackbeat master: ``rb=<hash>;sh=<hash>`` (the Rackbeat values it pushed and
  the Shopify state it left); Shopify master: ``sf=<hash>`` (the Shopify values it pulled).
* ``record_hashes`` job ``sync-products:publish`` (key: SKU key): products rackshop created (or
  whose create's answer was lost) that are not yet on their sales channels; published when next
  seen.
* ``record_hashes`` job ``sync-products:bulk`` (key: ``create`` / ``publish``): the journal of a
  bulk mutation under way (:class:`BulkJournal`), written before it starts and its operation id
  as soon as it is known; a pass that finds one settles that operation (waits for it, reads its
  result) before it plans anything, so a killed pass never leads to a second operation.
* ``cursors`` (shop, ``sync-products``, ``shopify_updated_at`` / ``rackbeat_updated_at``).
* ``failures`` (``sync-products``, shop, SKU): records that failed; retried on the next pass.

:class:`ProductsStore` reads a shop's rows once and writes through, one transaction per recorded
step. In a dry run it never writes: changes stay in memory for the rest of the run (so a later
shop of the same run sees what an earlier one would have mapped), and the store is opened only
if it already exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rackshop.runtime import Runtime
from rackshop.store import Store, drop_record_hash, put_record_hash, utcnow
from rackshop.sync.product_state import ProductState, VariantState
from rackshop.sync.product_values import sku_key, split_shared

JOB = "sync-products"
DUPLICATES_JOB = "sync-products:duplicates"
LINKS_JOB = "sync-products:links"
PUBLISH_JOB = "sync-products:publish"
BULK_JOB = "sync-products:bulk"


@dataclass
class BulkJournal:
    """A bulk mutation of one shop's pass: the alias its mutation carries (how a start whose
    answer was lost is found), its operation id once known, when its start was sent, and per
    line of its file ``[SKU key, SKU, extra]`` (extra: the Rackbeat hash of a create, the
    product of a publish).
    """

    alias: str
    lines: list[list[str]]
    op: str | None = None
    at: str | None = None
    """When the start was sent (a start whose answer was lost may still be applied later)."""

    def as_json(self) -> str:
        return json.dumps({"alias": self.alias, "op": self.op, "lines": self.lines,
                           "at": self.at})

    @classmethod
    def from_json(cls, text: str) -> BulkJournal:
        data = json.loads(text)
        return cls(str(data["alias"]), [list(map(str, x)) for x in data["lines"]], data.get("op"),
                   data.get("at"))


@dataclass(frozen=True)
class Link:
    """A Rackbeat item linked to one Shopify variant of a shop.

    Attributes:
        item_id: Rackbeat's item id (stays when the number is renamed).
        number: The item number when last synced.
        variant_id: The Shopify variant (stays when the SKU is edited).
        product_id: Its product.
        sku: The variant's SKU when last synced.
        owned: Shopify fields (``barcode``, ``product_type``...) that have held Rackbeat's value:
            only these may be cleared or overwritten by a Rackbeat-master pass when Rackbeat's
            value is empty (barcode) or differs (product type).
    """

    item_id: str
    number: str
    variant_id: str
    product_id: str
    sku: str
    owned: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "number": self.number, "variant_id": self.variant_id,
                "product_id": self.product_id, "sku": self.sku, "owned": list(self.owned)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Link:
        return cls(str(data["item_id"]), str(data.get("number") or ""),
                   str(data.get("variant_id") or ""), str(data.get("product_id") or ""),
                   str(data.get("sku") or ""), tuple(sorted(data.get("owned") or ())))


@dataclass(frozen=True)
class MappingRow:
    """One Shopify variant holding a SKU."""

    sku: str
    product_id: str
    variant_id: str
    inventory_item_id: str | None = None
    tracked: bool | None = None

    @property
    def key(self) -> str:
        return sku_key(self.sku)

    def as_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "product_id": self.product_id, "variant_id": self.variant_id,
                "inventory_item_id": self.inventory_item_id, "tracked": self.tracked}

    @classmethod
    def of(cls, product: ProductState, variant: VariantState) -> MappingRow:
        return cls(sku=(variant.sku or "").strip(), product_id=product.id, variant_id=variant.id,
                   inventory_item_id=variant.inventory_item_id, tracked=variant.tracked)


@dataclass
class ShopIndex:
    """A shop's SKU index as the store holds it.

    Attributes:
        unique: SKU key -> the one variant holding it.
        duplicates: SKU key -> the variants sharing it.
        hashes: SKU key -> recorded hash value (see the module doc).
        failures: SKU key -> (record name, reason) of records that failed before.
        links: Rackbeat item id -> its link to a Shopify variant of the shop.
    """

    shop: str
    unique: dict[str, MappingRow] = field(default_factory=dict)
    duplicates: dict[str, list[MappingRow]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    to_publish: set[str] = field(default_factory=set)
    create_sent: dict[str, str] = field(default_factory=dict)
    """SKU key -> when its last create was sent (the time of its publish mark): a create whose
    answer was lost is looked for, and sent again only after ``lost_answer_wait_seconds``."""
    link_items: dict[str, str] = field(default_factory=dict)
    """Shopify variant id -> the Rackbeat item id linked to it (kept with ``links``)."""

    def link_of_variant(self, variant_id: str) -> Link | None:
        """The link holding a Shopify variant, if any."""
        item_id = self.link_items.get(variant_id)
        return None if item_id is None else self.links.get(item_id)

    def links_by_variant(self) -> dict[str, Link]:
        return {lk.variant_id: lk for lk in self.links.values()}

    def holders(self) -> dict[str, dict[str, MappingRow]]:
        """SKU key -> variant id -> row, duplicates included."""
        out: dict[str, dict[str, MappingRow]] = {}
        for key, row in self.unique.items():
            out.setdefault(key, {})[row.variant_id] = row
        for key, rows in self.duplicates.items():
            for row in rows:
                out.setdefault(key, {})[row.variant_id] = row
        return out

    def all_keys(self) -> set[str]:
        return set(self.unique) | set(self.duplicates)


def parse_hash(value: str | None) -> dict[str, str]:
    """``rb=..;sh=..`` -> ``{"rb": .., "sh": ..}`` (empty for ``None``)."""
    out: dict[str, str] = {}
    for part in (value or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def format_hash(parts: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(parts.items()))


class ProductsStore:
    """The products job's access to the state store (see the module doc).

    Args:
        runtime: Gives the store.
        dry_run: Never write; open the store only if it exists.
    """

    def __init__(self, runtime: Runtime, *, dry_run: bool) -> None:
        self.runtime = runtime
        self.dry_run = dry_run
        self._indexes: dict[str, ShopIndex] = {}
        self._cursors: dict[tuple[str, str], str | None] = {}

    # -- access ----------------------------------------------------------------------------------

    def _db(self) -> Store | None:
        return self.runtime.open_store(create=not self.dry_run)

    def _writable(self) -> Store | None:
        return None if self.dry_run else self.runtime.store()

    def index(self, shop: str) -> ShopIndex:
        """The shop's SKU index, hashes and failures (read once, then kept current)."""
        if shop in self._indexes:
            return self._indexes[shop]
        idx = ShopIndex(shop)
        db = self._db()
        if db is not None:
            for r in db.conn.execute(
                    "SELECT sku, product_id, variant_id, inventory_item_id, tracked FROM mappings "
                    "WHERE shop = ?", (shop,)):
                row = MappingRow(str(r["sku"]), str(r["product_id"] or ""),
                                 str(r["variant_id"] or ""), r["inventory_item_id"],
                                 None if r["tracked"] is None else bool(r["tracked"]))
                idx.unique[row.key] = row
            for r in db.conn.execute(
                    "SELECT job, key, hash, updated_at FROM record_hashes WHERE shop = ? "
                    "AND job IN "
                    "(?, ?, ?, ?)", (shop, JOB, DUPLICATES_JOB, LINKS_JOB, PUBLISH_JOB)):
                if r["job"] == JOB:
                    idx.hashes[str(r["key"])] = str(r["hash"])
                elif r["job"] == PUBLISH_JOB:
                    idx.to_publish.add(str(r["key"]))
                    idx.create_sent[str(r["key"])] = str(r["updated_at"])
                elif r["job"] == LINKS_JOB:
                    link = Link.from_json(json.loads(r["hash"]))
                    idx.links[link.item_id] = link
                    idx.link_items[link.variant_id] = link.item_id
                else:
                    idx.duplicates[str(r["key"])] = [
                        MappingRow(**d) for d in json.loads(r["hash"] or "[]")]
            for r in db.conn.execute(
                    "SELECT key, reason FROM failures WHERE job = ? AND shop = ?", (JOB, shop)):
                idx.failures[sku_key(str(r["key"]))] = (str(r["key"]), str(r["reason"]))
        self._indexes[shop] = idx
        return idx

    # -- the SKU index ---------------------------------------------------------------------------

    def refresh(self, shop: str, products: Iterable[ProductState], *, full: bool) -> ShopIndex:
        """Bring the shop's SKU index up to date with ``products`` (read from Shopify).

        Args:
            shop: The shop.
            products: Products read from Shopify, each with *all* its variants.
            full: ``products`` is the whole catalogue: everything else is gone.

        Returns:
            The updated index.
        """
        idx = self.index(shop)
        products = list(products)
        holders = {} if full else idx.holders()
        seen = {p.id for p in products}
        if not full:
            for key in list(holders):
                rows = {vid: r for vid, r in holders[key].items() if r.product_id not in seen}
                if rows:
                    holders[key] = rows
                else:
                    del holders[key]
        for p in products:
            for v in p.variants:
                key = sku_key(v.sku)
                if key:
                    holders.setdefault(key, {})[v.id] = MappingRow.of(p, v)
        unique, duplicates = split_shared({key: sorted(rows.values(), key=lambda r: r.variant_id)
                                           for key, rows in holders.items()})
        self._save_index(idx, unique, duplicates)
        return idx

    def forget_product(self, shop: str, product_id: str) -> None:
        """Drop every row of a product that no longer exists in Shopify."""
        idx = self.index(shop)
        holders = idx.holders()
        for key in list(holders):
            holders[key] = {v: r for v, r in holders[key].items() if r.product_id != product_id}
            if not holders[key]:
                del holders[key]
        unique = {k: next(iter(r.values())) for k, r in holders.items() if len(r) == 1}
        dups = {k: sorted(r.values(), key=lambda x: x.variant_id)
                for k, r in holders.items() if len(r) > 1}
        self._save_index(idx, unique, dups)

    def put_mapping(self, shop: str, row: MappingRow) -> None:
        """Record one variant rackshop created or whose SKU it rewrote."""
        idx = self.index(shop)
        unique = dict(idx.unique)
        touched = {row.key}
        for key, old in idx.unique.items():
            if old.variant_id == row.variant_id:
                del unique[key]
                touched.add(key)
        unique[row.key] = row
        # Only the rows of this variant and SKU can differ: a first push records thousands of
        # products one by one, and comparing the whole index each time made that quadratic.
        self._save_index(idx, unique, dict(idx.duplicates), touched)

    def _save_index(self, idx: ShopIndex, unique: dict[str, MappingRow],
                    duplicates: dict[str, list[MappingRow]],
                    touched: set[str] | None = None) -> None:
        """Write the differences between the index and ``unique``/``duplicates`` (only the keys
        in ``touched``, when the caller knows the others are unchanged)."""
        db = self._writable()
        if db is not None:
            now = utcnow()
            with db.transaction() as c:
                for key in idx.unique if touched is None else touched & idx.unique.keys():
                    old = idx.unique[key]
                    new = unique.get(key)
                    if new is None or new.sku != old.sku:
                        c.execute("DELETE FROM mappings WHERE shop = ? AND sku = ?",
                                  (idx.shop, old.sku))
                for key in unique if touched is None else touched & unique.keys():
                    row = unique[key]
                    if idx.unique.get(key) == row:
                        continue
                    c.execute(
                        "INSERT INTO mappings (shop, sku, product_id, variant_id, "
                        "inventory_item_id, tracked, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (shop, sku) DO UPDATE SET product_id = excluded.product_id, "
                        "variant_id = excluded.variant_id, inventory_item_id = "
                        "excluded.inventory_item_id, tracked = excluded.tracked, "
                        "updated_at = excluded.updated_at",
                        (idx.shop, row.sku, row.product_id, row.variant_id,
                         row.inventory_item_id, None if row.tracked is None else int(row.tracked),
                         now))
                for key in idx.duplicates:
                    if key not in duplicates:
                        drop_record_hash(c, DUPLICATES_JOB, idx.shop, key)
                for key, rows in duplicates.items():
                    if idx.duplicates.get(key) == rows:
                        continue
                    put_record_hash(c, DUPLICATES_JOB, idx.shop, key,
                                    json.dumps([r.as_json() for r in rows], sort_keys=True), now)
        idx.unique = unique
        idx.duplicates = duplicates

    # -- links -----------------------------------------------------------------------------------

    def put_link(self, shop: str, link: Link) -> None:
        """Record (or update) the link of a Rackbeat item; a variant holds one link at most."""
        idx = self.index(shop)
        holder = idx.link_items.get(link.variant_id)
        stale = [holder] if holder is not None and holder != link.item_id else []
        if idx.links.get(link.item_id) == link and not stale:
            return
        db = self._writable()
        if db is not None:
            with db.transaction() as c:
                for item_id in stale:
                    drop_record_hash(c, LINKS_JOB, shop, item_id)
                put_record_hash(c, LINKS_JOB, shop, link.item_id,
                                json.dumps(link.as_json(), sort_keys=True), utcnow())
        for item_id in stale:
            del idx.links[item_id]
        old = idx.links.get(link.item_id)
        if old is not None and idx.link_items.get(old.variant_id) == link.item_id:
            del idx.link_items[old.variant_id]
        idx.links[link.item_id] = link
        idx.link_items[link.variant_id] = link.item_id

    def drop_link(self, shop: str, item_id: str) -> None:
        """Forget a link (its variant is gone and the listing is being created again)."""
        idx = self.index(shop)
        gone = idx.links.pop(item_id, None)
        if gone is None:
            return
        if idx.link_items.get(gone.variant_id) == item_id:
            del idx.link_items[gone.variant_id]
        self._drop_record(shop, LINKS_JOB, item_id)

    def _drop_record(self, shop: str, job: str, key: str) -> None:
        """Delete one recorded row (a link, a hash) from the store, when this pass may write."""
        db = self._writable()
        if db is not None:
            with db.transaction() as c:
                drop_record_hash(c, job, shop, key)

    # -- hashes, failures, cursors ---------------------------------------------------------------

    def set_hash(self, shop: str, key: str, value: str) -> None:
        """Record what was last written/verified for a SKU (one transaction)."""
        idx = self.index(shop)
        if idx.hashes.get(key) == value:
            return
        db = self._writable()
        if db is not None:
            db.set_hash(JOB, shop, key, value)
        idx.hashes[key] = value

    def set_to_publish(self, shop: str, key: str, pending: bool) -> None:
        """Mark (or clear) a created product as still to be published to its channels."""
        self.publish_marks(shop, [key], pending)

    def publish_marks(self, shop: str, keys: Iterable[str], pending: bool) -> None:
        """:meth:`set_to_publish` for many keys in one transaction (a bulk create's products).
        Marking is done just before a create is sent, so it also records when (a mark already
        there is renewed: the create is sent again)."""
        idx = self.index(shop)
        keys = [k for k in keys if pending or k in idx.to_publish]
        now = utcnow()
        db = self._writable()
        if db is not None and keys:
            with db.transaction() as c:
                for key in keys:
                    if pending:
                        put_record_hash(c, PUBLISH_JOB, shop, key, "", now)
                    else:
                        drop_record_hash(c, PUBLISH_JOB, shop, key)
        (idx.to_publish.update if pending else idx.to_publish.difference_update)(keys)
        for key in keys:
            if pending:
                idx.create_sent[key] = now
            else:
                idx.create_sent.pop(key, None)

    def bulk_journal(self, shop: str, kind: str) -> BulkJournal | None:
        """The journal of a bulk mutation (``create`` / ``publish``) a pass left, if any."""
        db = self._db()
        if db is None:
            return None
        row = db.conn.execute("SELECT hash FROM record_hashes WHERE job = ? AND shop = ? AND "
                              "key = ?", (BULK_JOB, shop, kind)).fetchone()
        return BulkJournal.from_json(str(row["hash"])) if row is not None else None

    def set_bulk_journal(self, shop: str, kind: str, journal: BulkJournal | None) -> None:
        """Write (or, with ``None``, drop) the journal of a bulk mutation (one transaction)."""
        db = self._writable()
        if db is None:
            return
        with db.transaction() as c:
            if journal is None:
                drop_record_hash(c, BULK_JOB, shop, kind)
            else:
                put_record_hash(c, BULK_JOB, shop, kind, journal.as_json(), utcnow())

    def drop_hash(self, shop: str, key: str) -> None:
        """Forget what was recorded for a SKU key (a number renamed away from it)."""
        idx = self.index(shop)
        if idx.hashes.pop(key, None) is None:
            return
        self._drop_record(shop, JOB, key)

    def record_failure(self, shop: str, record: str, reason: str) -> None:
        db = self._writable()
        if db is not None:
            db.record_failure(JOB, shop, record, reason)
        self.index(shop).failures[sku_key(record)] = (record, reason)

    def clear_failure(self, shop: str, key: str) -> None:
        idx = self.index(shop)
        found = idx.failures.pop(key, None)
        db = self._writable()
        if found is not None and db is not None:
            db.clear_failure(JOB, shop, found[0])

    def cursor(self, shop: str, name: str) -> str | None:
        if (shop, name) not in self._cursors:
            db = self._db()
            self._cursors[(shop, name)] = db.get_cursor(shop, JOB, name) if db else None
        return self._cursors[(shop, name)]

    def set_cursor(self, shop: str, name: str, value: str) -> None:
        """Save a cursor (call only after the writes it covers are recorded)."""
        db = self._writable()
        if db is not None:
            db.set_cursor(shop, JOB, value, name)
        self._cursors[(shop, name)] = value
