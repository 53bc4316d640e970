"""``rackshop init-sync``: the go-live import of a shop's products and stock into Rackbeat.

It has permanent effects (Rackbeat cannot delete a product, or turn it into a BOM, once stock has
been registered for it), so it is split in two, with the confirmation between them:

* :func:`preview_init_sync` **reads only** and returns an :class:`InitPreview`: products to
  create, SKUs Rackbeat already has (linked, left unchanged), variants without SKU, duplicate SKUs,
  the stock adjustments per Rackbeat location with their units, and the warnings. A dry run stops
  here; nothing is written anywhere (the state store is only read, and only if it exists).
* :func:`apply_init_sync` does exactly what the preview announced, under the job lock: it
  re-reads Rackbeat first and refuses, without writing, if Rackbeat changed in a way that
  invalidates the preview; then creates the missing products and registers the stock (one
  inventory adjustment per SKU and Rackbeat location, booked), and writes the report file.

Reading (DESIGN section 2: read -> plan -> apply -> report):

* Shopify: two bulk operations (every product with its variants; every inventory item with its
  available quantity per location), their JSONL streamed into a temporary SQLite *spool*, so
  memory stays flat however large the shop; plus the shop's locations.
* Rackbeat: the items list and the stock report (``/reports/checking``), 1,000 items a call,
  also into the spool; the locations and the default product group.
* The plan (:mod:`rackshop.sync.initial_plan`, pure) is made SKU by SKU from the spool, sorted by
  SKU key, and kept there; the preview's listings stream from it.

Exactly once (DESIGN section 4, applied to products and adjustments; journal in
:mod:`rackshop.sync.initial_store`): before each create, an intent row is committed; after it,
the result. A product whose create answer was lost is settled by reading ``/items/{number}``
(numbers are unique, so it exists iff it was created). An adjustment whose outcome is unknown is
settled by reading Rackbeat: the adjustments of that item at that location carrying this
init-sync's marker in their ``reason`` (booked: done; a draft: booked now), and, when there is
none, the item's stock at that location (still the planned starting quantity: create it; anything
else: Rackbeat changed meanwhile, nothing is registered). A rerun after a crash resumes the same
init-sync (its *generation*), keeps what the interrupted run did and announced, and finishes the
rest. Adjustments are drafts until booked and each draft applies the difference computed when it
was created, so stray drafts of this init-sync (a create that landed after its answer was lost) are
deleted at the end, never booked.

A completed init-sync is recorded; another for the same shop is refused unless ``--again``
(:class:`InitSyncDoneError`).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    ConfigError,
    ConfigProblem,
    ExitCode,
    NotFoundError,
    OutcomeUnknownError,
    RecordError,
    SafetyStopError,
    StateError,
    UsageError,
    ValidationError,
)
from rackshop.log import event
from rackshop.rackbeat.client import RackbeatClient
from rackshop.runtime import Runtime
from rackshop.shopify.bulk import bulk_query_text, run_bulk_query
from rackshop.store import utcnow
from rackshop.sync.initial_plan import (
    JournalledAdjustment,
    PlanOptions,
    RackbeatStock,
    ShopifyVariant,
    SkuPlan,
    plan_no_sku,
    plan_sku,
)
from rackshop.sync.initial_store import (
    ADJUSTMENT,
    PRODUCT,
    RUN,
    InitJournal,
    adjustment_key,
    open_journal,
    product_key,
)
from rackshop.sync.product_map import (
    group_for_type,
    json_number,
    rackbeat_fields_from_variant,
    sku_key,
)
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop
from rackshop.sync.stock_plan import location_closure

log = logging.getLogger("rackshop.initial")

JOB = "init-sync"

PERMANENT_WARNING = (
    "Rackbeat cannot delete a product, or turn it into a BOM, once stock has been registered for "
    "it: the products and stock this import brings into Rackbeat are there for good.")

#: Items per Rackbeat list page (the API's maximum).
RACKBEAT_PAGE = 1000
#: Attempts per create or book within one run before the record is left for the next run.
WRITE_ATTEMPTS = 3
#: Rows per executemany into the spool.
SPOOL_BATCH = 500
#: Examples named in a refusal message.
EXAMPLES = 8
#: Import writes ask Rackbeat not to fire its webhooks (reference 2.8): Rackbeat's own apps
#: (its Shopify app among them) must not react to a bulk import.
SUPPRESS = {"suppress_webhooks": "true"}

PREVIEW_COLUMNS = ("action", "sku", "rackbeat number", "name", "location", "quantity", "note")
"""Columns of :meth:`InitPreview.rows`."""

REPORT_COLUMNS = ("record", "sku", "rackbeat_number", "shopify_variant", "name", "action",
                  "outcome", "rackbeat_location", "shopify_quantity", "rackbeat_before",
                  "rackbeat_after", "reason")
"""Columns of the report file."""


class InitSyncDoneError(UsageError):
    """The shop completed an init-sync already; a second one needs ``--again``.

    A :class:`~rackshop.errors.UsageError` (the command line asks for something that cannot be
    done as it stands), with the safety-stop exit code: it is a guard against importing stock
    twice, overridden by a flag (``--again``) as the stock circuit breaker is by ``--force``, and
    a script can tell it from a mistyped command line (exit 2).
    """

    exit_code = ExitCode.SAFETY_STOP


# -- the spool -----------------------------------------------------------------------------------


_SCHEMA = """
CREATE TABLE products (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE variants (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, product_id TEXT NOT NULL,
                       key TEXT NOT NULL, item_id TEXT, data TEXT NOT NULL);
CREATE INDEX variants_by_product ON variants (product_id);
CREATE TABLE items (id TEXT PRIMARY KEY, tracked INTEGER NOT NULL);
CREATE TABLE levels (item_id TEXT NOT NULL, location_id TEXT NOT NULL, qty INTEGER NOT NULL);
CREATE INDEX levels_by_item ON levels (item_id);
CREATE TABLE rb_items (snap TEXT NOT NULL, key TEXT NOT NULL, number TEXT NOT NULL,
                       type TEXT NOT NULL, keeps_stock INTEGER NOT NULL DEFAULT 0,
                       PRIMARY KEY (snap, key));
CREATE TABLE rb_stock (snap TEXT NOT NULL, key TEXT NOT NULL, location INTEGER NOT NULL,
                       qty TEXT NOT NULL, PRIMARY KEY (snap, key, location));
CREATE TABLE j_products (key TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE j_stock (key TEXT NOT NULL, location INTEGER NOT NULL, state TEXT NOT NULL,
                      before TEXT NOT NULL, after TEXT NOT NULL, PRIMARY KEY (key, location));
CREATE TABLE plan_products (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                            number TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
                            reason TEXT NOT NULL, variant_id TEXT, product_id TEXT,
                            label TEXT NOT NULL, name TEXT NOT NULL, payload TEXT,
                            outcome TEXT NOT NULL DEFAULT '');
CREATE INDEX plan_products_by_key ON plan_products (key);
CREATE TABLE plan_stock (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                         number TEXT NOT NULL, location INTEGER NOT NULL, action TEXT NOT NULL,
                         state TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
                         shopify INTEGER NOT NULL, reason TEXT NOT NULL,
                         outcome TEXT NOT NULL DEFAULT '');
CREATE TABLE notes (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, sku TEXT NOT NULL,
                    text TEXT NOT NULL);
"""


SPOOL_PREFIX = "rackshop-init-sync-"


def _sweep_dead_spools(root: str | None = None) -> None:
    """Remove the spool folders of init-syncs whose process died (a kill leaves them behind).

    A folder is named ``rackshop-init-sync-<pid>-<random>``; it is removed only when no
    process with that PID is alive, so a running import's spool is never touched.
    """
    root = root or tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(SPOOL_PREFIX):
            continue
        pid_text = name[len(SPOOL_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except PermissionError:
            pass  # alive, and someone else's


class _Spool:
    """A temporary SQLite database holding what was read and the plan (flat memory)."""

    def __init__(self) -> None:
        _sweep_dead_spools()
        self.folder = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        self.conn = sqlite3.connect(os.path.join(self.folder, "spool.sqlite3"),
                                    isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.executescript(_SCHEMA)
        self._finalizer = weakref.finalize(self, _remove_spool, self.conn, self.folder)

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def insert(self, table: str, rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows in batches; returns how many."""
        count = 0
        it = iter(rows)
        while True:
            batch = list(itertools.islice(it, SPOOL_BATCH))
            if not batch:
                return count
            marks = ",".join("?" for _ in batch[0])
            self.conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", batch)
            count += len(batch)

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row else None


def _remove_spool(conn: sqlite3.Connection, folder: str) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()
    shutil.rmtree(folder, ignore_errors=True)


# -- the preview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationTotals:
    """The stock announced for one Rackbeat location.

    Attributes:
        location: The Rackbeat location number.
        name: Its name.
        adjustments: Adjustments registered there (those an interrupted attempt did included).
        units: Units Rackbeat holds there afterwards for those items.
        change: Units added (negative: removed, possible with ``--overwrite-stock``).
        kept: Items whose different Rackbeat count is kept.
    """

    location: int
    name: str
    adjustments: int = 0
    units: Decimal = Decimal(0)
    change: Decimal = Decimal(0)
    kept: int = 0


@dataclass
class InitPreview:
    """What an init-sync of one shop will do (see :func:`preview_init_sync`).

    The lists live in a temporary spool; :meth:`close` removes it (also when the object is
    garbage collected). Use it as a context manager.

    Attributes:
        shop: The shop's name.
        generation: Which init-sync of the shop this is (1 for the first; ``--again`` adds one).
        resumed: True when it resumes an interrupted init-sync (its work so far is kept).
        skip_inventory: ``--skip-inventory``.
        overwrite_stock: ``--overwrite-stock``.
        again: ``--again``.
        counts: ``variants``, ``products``, ``to_create``, ``created_earlier``, ``linked``,
            ``without_sku``, ``duplicate_skus``, ``duplicate_variants``, ``invalid``,
            ``stock_register``, ``stock_registered_earlier``, ``stock_resume``, ``stock_kept``,
            ``stock_same``, ``stock_not_imported``, ``negative_quantities``, ``unmapped_units``.
        locations: Per Rackbeat location, the adjustments and units announced.
        warnings: For the user, the permanent-effect warning first.
        marker: Written into every adjustment's reason (finds this init-sync's adjustments).
    """

    shop: str
    generation: int
    resumed: bool
    skip_inventory: bool
    overwrite_stock: bool
    again: bool
    counts: dict[str, int]
    locations: list[LocationTotals]
    warnings: list[str]
    marker: str
    location_names: dict[int, str]
    sources: dict[int, tuple[str, ...]]
    created_at: str
    _spool: _Spool = field(repr=False)
    new_groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Rackbeat product groups to create (``products.create_groups``): number -> ``name``,
    ``vat_domestic``, ``has_inventory``."""

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the spool (the preview can no longer be listed or applied)."""
        self._spool.close()

    @property
    def closed(self) -> bool:
        return self._spool.closed

    def __enter__(self) -> InitPreview:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what it announces -----------------------------------------------------------------

    @property
    def products_to_create(self) -> int:
        """New Rackbeat products (those an interrupted attempt created included)."""
        return self.counts.get("to_create", 0) + self.counts.get("created_earlier", 0)

    @property
    def writes_anything(self) -> bool:
        """Whether applying would write to Rackbeat at all."""
        c = self.counts
        return bool(c.get("to_create") or c.get("stock_register") or c.get("stock_resume")
                    or self.new_groups)

    def summary(self) -> list[tuple[str, str]]:
        """The preview as ``(what, how many)`` rows for a two-column table."""
        c = self.counts
        head = f"#{self.generation}"
        if self.resumed:
            head += " (resuming an interrupted run)"
        rows = [("shop", self.shop), ("init-sync", head),
                ("Shopify variants read", str(c.get("variants", 0))),
                ("products to create in Rackbeat", _with_earlier(
                    self.products_to_create, c.get("created_earlier", 0), "created")),
                ("SKUs already in Rackbeat (linked, left unchanged)", str(c.get("linked", 0))),
                ("variants without SKU (left out)", str(c.get("without_sku", 0))),
                ("duplicate SKUs (left out)", f"{c.get('duplicate_skus', 0)} SKUs on "
                 f"{c.get('duplicate_variants', 0)} variants")]
        if self.new_groups:
            rows.append(("product groups to create in Rackbeat", ", ".join(
                f"{n} {g['name']}" for n, g in sorted(self.new_groups.items()))))
        if c.get("invalid"):
            rows.append(("variants that cannot be mapped (left out)", str(c["invalid"])))
        if self.skip_inventory:
            rows.append(("stock", "not registered (--skip-inventory)"))
        for t in self.locations:
            rows.append((f"stock to register at Rackbeat location {t.location} {t.name}",
                         f"{t.adjustments} adjustments, {_fmt(t.units)} units"
                         + (f" (net {_signed(t.change)})" if t.change != t.units else "")))
        if not self.skip_inventory:
            if c.get("stock_registered_earlier") or c.get("stock_resume"):
                rows.append(("of these, registered by the interrupted run",
                             f"{c.get('stock_registered_earlier', 0)} (and "
                             f"{c.get('stock_resume', 0)} to settle by reading Rackbeat)"))
            rows.append(("stock Rackbeat already has (not imported)",
                         str(c.get("stock_kept", 0))))
            rows.append(("stock not imported (BOM, no inventory, untracked)",
                         str(c.get("stock_not_imported", 0))))
            if c.get("negative_quantities"):
                rows.append(("negative Shopify quantities (counted as 0)",
                             str(c["negative_quantities"])))
            if c.get("unmapped_units"):
                rows.append(("units at unmapped Shopify locations (not imported)",
                             str(c["unmapped_units"])))
        return rows

    def rows(self, limit: int | None = None) -> list[tuple[str, ...]]:
        """The listing (:data:`PREVIEW_COLUMNS`): products, then stock, then notes.

        Args:
            limit: At most this many rows per action (``None``: all).
        """
        out: list[tuple[str, ...]] = []
        counts: dict[str, int] = {}

        def take(label: str) -> bool:
            counts[label] = counts.get(label, 0) + 1
            return limit is None or counts[label] <= limit

        for r in self._spool.conn.execute(
                "SELECT action, state, sku, number, name, label, reason FROM plan_products "
                "ORDER BY CASE action WHEN 'create' THEN 0 WHEN 'link' THEN 1 WHEN 'duplicate' "
                "THEN 2 WHEN 'no_sku' THEN 3 ELSE 4 END, seq"):
            action, state, sku, number, name, label, reason = r
            shown = {"no_sku": "no SKU"}.get(action, action)
            if state == "done":
                reason = "created by the interrupted run" + (f"; {reason}" if reason else "")
            if take(shown):
                out.append((shown, sku, number, name or label, "", "", reason))
        for r in self._spool.conn.execute(
                "SELECT action, state, sku, number, location, before, after, shopify, reason "
                "FROM plan_stock ORDER BY CASE action WHEN 'register' THEN 0 WHEN 'keep' THEN 1 "
                "WHEN 'same' THEN 2 ELSE 3 END, seq"):
            action, state, sku, number, location, before, after, shopify, reason = r
            shown = {"register": "stock", "keep": "stock kept", "same": "stock same",
                     "skip": "stock skipped"}[action]
            where = f"{location} {self.location_names.get(int(location), '')}".strip()
            if action == "register":
                qty = f"{_fmt(Decimal(before))} -> {_fmt(Decimal(after))}"
                note = {"done": "registered by the interrupted run",
                        "resume": "interrupted: settled by reading Rackbeat first"}.get(state, "")
            else:
                qty = f"{_fmt(Decimal(before))} (Shopify {shopify})"
                note = reason
            if take(shown):
                out.append((shown, sku, number, "", where, qty, note))
        for sku, text in self._spool.conn.execute("SELECT sku, text FROM notes ORDER BY seq"):
            if take("note"):
                out.append(("note", sku, "", "", "", "", text))
        return out

    def products(self, action: str = "create") -> Iterator[dict[str, Any]]:
        """The product decisions of one action (``create``, ``link``, ``no_sku``,
        ``duplicate``, ``invalid``): ``sku``, ``number``, ``name``, ``state``, ``reason`` and,
        for creates, ``payload`` (the exact ``POST /products`` body)."""
        for r in self._spool.conn.execute(
                "SELECT sku, number, name, state, reason, payload, variant_id FROM plan_products "
                "WHERE action = ? ORDER BY seq", (action,)):
            yield {"sku": r[0], "number": r[1], "name": r[2], "state": r[3], "reason": r[4],
                   "payload": json.loads(r[5]) if r[5] else None, "variant_id": r[6]}

    def stock(self) -> Iterator[dict[str, Any]]:
        """Every stock decision: ``number``, ``location``, ``action``, ``before``, ``after``
        (what Rackbeat holds there afterwards), ``shopify``, ``state``, ``reason``."""
        for r in self._spool.conn.execute(
                "SELECT sku, number, location, action, before, after, shopify, state, reason "
                "FROM plan_stock ORDER BY seq"):
            yield {"sku": r[0], "number": r[1], "location": int(r[2]), "action": r[3],
                   "before": Decimal(r[4]), "after": Decimal(r[5]), "shopify": int(r[6]),
                   "state": r[7], "reason": r[8]}


def _with_earlier(total: int, earlier: int, verb: str) -> str:
    return f"{total}" + (f" ({earlier} {verb} by the interrupted run)" if earlier else "")


def _fmt(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"


def _signed(value: Decimal) -> str:
    return ("+" if value >= 0 else "") + _fmt(value)


# -- preview -------------------------------------------------------------------------------------


def preview_init_sync(runtime: Runtime, shop: ShopConfig, *, skip_inventory: bool = False,
                      overwrite_stock: bool = False, again: bool = False,
                      stock_for: Iterable[str] = (),
                      progress: ProgressSink | None = None) -> InitPreview:
    """Read both sides and plan the init-sync of ``shop``; writes nothing anywhere.

    Calls: Shopify — the locations and two bulk operations (a start, a few polls and a download
    each; a bulk query only reads); Rackbeat — the locations, the default product group, and the
    items list and stock report at 1,000 items a call. The state store is read if it exists.

    Args:
        runtime: Clients and store.
        shop: The shop to import.
        skip_inventory: Plan products only.
        overwrite_stock: Set Rackbeat's stock to Shopify's where they differ, even where
            Rackbeat has some.
        again: Allow a new init-sync of a shop that completed one.
        stock_for: SKUs whose stock a second shop's go-live imports (``--stock-for``); without
            them a shop going live after another imports products and links only.
        progress: Progress bars, if any.

    Returns:
        The preview (close it when done; :func:`apply_init_sync` takes it).

    Raises:
        InitSyncDoneError: The shop completed an init-sync and ``again`` is false (a
            :class:`~rackshop.errors.UsageError` with exit code 9, naming ``--again``).
        ConfigError: ``initial.location_map`` is missing (and stock is to be imported) or names
            a location that does not exist; ``products.default_group`` is missing or unknown
            while products are to be created.
    """
    journal = open_journal(runtime, shop.name, write=False)
    latest = journal.latest()
    resumed = False
    if latest is None:
        generation = 1
    elif not latest.completed:
        generation, resumed = latest.generation, True
    elif again:
        generation = latest.generation + 1
    else:
        when = latest.detail.get("finished_at") or "earlier"
        raise InitSyncDoneError(
            f"shop {shop.name} completed its init-sync #{latest.generation} on {when}; a second "
            "one is refused so that nothing is imported twice",
            hint="pass --again to run it once more: products Rackbeat has are linked, and stock "
            "is registered only where Rackbeat has none (unless --overwrite-stock)")
    reader = _Reader(runtime, shop, journal, generation, progress)
    try:
        return reader.preview(skip_inventory=skip_inventory, overwrite_stock=overwrite_stock,
                              again=again, resumed=resumed,
                              stock_for=frozenset(sku_key(s) for s in stock_for if sku_key(s)))
    except BaseException:
        reader.spool.close()
        raise


def marker_for(shop: str, generation: int) -> str:
    """The text every adjustment of one init-sync carries in its ``reason``."""
    return f"[rackshop init-sync {shop} #{generation}]"


class _Reader:
    """Reads both sides into the spool and plans."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, journal: InitJournal, generation: int,
                 progress: ProgressSink | None) -> None:
        self.runtime = runtime
        self.shop = shop
        self.journal = journal
        self.generation = generation
        self.progress = progress
        self.spool = _Spool()
        self.index = next((i for i, s in enumerate(runtime.config.shops) if s.name == shop.name),
                          0)

    def path(self, key: str) -> str:
        return f"shops[{self.index}].{key}"

    # -- configuration against the live systems ---------------------------------------------

    def shopify_locations(self) -> tuple[dict[str, int], dict[str, str]]:
        """Shopify location gid -> Rackbeat location (the map), and gid -> name (all)."""
        nodes = list(self.runtime.shopify(self.shop).paginate("Locations", {}, ("locations",)))
        names = {str(n["id"]): str(n["name"]) for n in nodes}
        by_key = {**{str(n["id"]): str(n["id"]) for n in nodes},
                  **{str(n["name"]): str(n["id"]) for n in nodes}}
        out: dict[str, int] = {}
        problems = []
        for key, number in self.shop.initial.location_map.items():
            if key not in by_key:
                known = ", ".join(sorted(names.values())) or "none"
                problems.append(ConfigProblem(
                    self.path(f'initial.location_map["{key}"]'),
                    f"the shop has no Shopify location {key!r} (known: {known}); use a location "
                    "name or gid exactly as `rackshop check` lists them"))
                continue
            out[by_key[key]] = int(number)
        if problems:
            raise ConfigError(problems)
        return out, names

    def rackbeat_locations(self, wanted: Iterable[int]) -> dict[int, str]:
        """Rackbeat location number -> name; every mapped number must exist."""
        known = {int(loc["number"]): str(loc.get("name") or "")
                 for loc in self.runtime.rackbeat().locations()}
        missing = sorted(set(wanted) - set(known))
        if missing:
            listed = ", ".join(f"{n} {name}" for n, name in sorted(known.items())) or "none"
            raise ConfigError([ConfigProblem(
                self.path("initial.location_map"),
                f"Rackbeat has no location {', '.join(map(str, missing))} (it has: {listed}); "
                "map each Shopify location to an existing Rackbeat location number")])
        return known

    def default_group(self) -> tuple[int | None, Decimal, bool]:
        """(group number, its VAT rate, whether it keeps inventory)."""
        cfg = self.shop.products
        fallback = Decimal(str(cfg.vat_rate))
        if cfg.default_group is None:
            return None, fallback, True
        found = self.runtime.rackbeat().find_one("product-groups", cfg.default_group)
        if found is None:
            raise ConfigError([ConfigProblem(
                self.path("products.default_group"),
                f"Rackbeat has no product group {cfg.default_group}; init-sync creates new "
                "products in it: name an existing group number")])
        vat = found.get("vat_domestic")
        return (cfg.default_group, Decimal(str(vat)) if vat is not None else fallback,
                bool(found.get("has_inventory", True)))

    def product_groups(self) -> tuple[dict[str, int], dict[int, Decimal]]:
        """Rackbeat's product groups: number by case-folded name (a Shopify product type picks
        the group of that name), and each group's domestic VAT rate."""
        by_name: dict[str, int] = {}
        vat: dict[int, Decimal] = {}
        for g in self.runtime.rackbeat().list_all("product-groups"):
            if g.get("number") is None:
                continue
            number = int(g["number"])
            by_name.setdefault(str(g.get("name") or "").strip().casefold(), number)
            if g.get("vat_domestic") is not None:
                vat[number] = Decimal(str(g["vat_domestic"]))
        return by_name, vat

    # -- reading -------------------------------------------------------------------------------

    def read_shopify(self) -> None:
        client = self.runtime.shopify(self.shop)
        self._phase(f"{self.shop.name}: reading Shopify products (bulk)")
        products: list[tuple[str, str]] = []
        variants: list[tuple[None, str, str, str, str | None, str]] = []

        def flush() -> None:
            self.spool.insert("products", products)
            self.spool.insert("variants", variants)
            products.clear()
            variants.clear()

        for line in run_bulk_query(client, bulk_query_text("InitBulkProducts")):
            parent = line.get("__parentId")
            if parent is None:
                products.append((str(line["id"]), json.dumps(line)))
            else:
                item = line.get("inventoryItem") or {}
                variants.append((None, str(line["id"]), str(parent), sku_key(line.get("sku")),
                                 item.get("id"), json.dumps(line)))
                self._advance()
            if len(products) + len(variants) >= SPOOL_BATCH:
                flush()
        flush()
        self._done()
        if self.skip_inventory:
            return
        self._phase(f"{self.shop.name}: reading Shopify stock (bulk)")
        items: list[tuple[str, int]] = []
        levels: list[tuple[str, str, int]] = []
        for line in run_bulk_query(client, bulk_query_text("InitBulkInventory")):
            parent = line.get("__parentId")
            if parent is None:
                items.append((str(line["id"]), int(bool(line.get("tracked")))))
                self._advance()
            else:
                qty = next((q.get("quantity") for q in line.get("quantities") or []
                            if q.get("name") == "available"), 0)
                location = str((line.get("location") or {}).get("id"))
                levels.append((str(parent), location, int(qty or 0)))
            if len(items) + len(levels) >= SPOOL_BATCH:
                self.spool.insert("items", items)
                self.spool.insert("levels", levels)
                items.clear()
                levels.clear()
        self.spool.insert("items", items)
        self.spool.insert("levels", levels)
        self._done()

    def read_rackbeat(self, snap: str) -> None:
        """Every Rackbeat item (and its stock per location) into snapshot ``snap``."""
        _read_rackbeat(self.runtime.rackbeat(), self.spool, snap, stock=not self.skip_inventory,
                       progress=self.progress, shop=self.shop.name)

    def read_journal(self) -> None:
        products = ((k, s) for k, s, _ in self.journal.rows(self.generation, PRODUCT)
                    if s in ("creating", "created"))
        self.spool.insert("j_products", products)
        stock = []
        for key, state, detail in self.journal.rows(self.generation, ADJUSTMENT):
            if state not in ("creating", "created", "booked"):
                continue  # failed or superseded: planned afresh
            sku, _, location = key.rpartition("@")
            stock.append((sku, int(location), state, str(detail.get("before", "0")),
                          str(detail.get("after", "0"))))
        self.spool.insert("j_stock", stock)

    # -- the whole preview ---------------------------------------------------------------------

    def live_shop(self) -> str | None:
        """Another shop that is live already: it completed an init-sync, or sync-stock pushed
        stock to it. Rackbeat then holds the stock every shop shows."""
        if not self.runtime.state_path.exists():
            return None
        store = self.runtime.store()
        row = store.conn.execute("SELECT shop FROM stock_pushed WHERE shop != ? ORDER BY shop "
                                 "LIMIT 1", (self.shop.name,)).fetchone()
        if row is not None:
            return str(row["shop"])
        for other in self.runtime.config.shops:
            if other.name == self.shop.name:
                continue
            latest = open_journal(self.runtime, other.name, write=False).latest()
            if latest is not None and latest.completed:
                return other.name
        return None

    def pushed(self) -> tuple[set[str], set[str]]:
        """Inventory item gids and SKU keys sync-stock pushed to this shop."""
        if not self.runtime.state_path.exists():
            return set(), set()
        items: set[str] = set()
        keys: set[str] = set()
        for r in self.runtime.store().conn.execute(
                "SELECT DISTINCT inventory_item_id, sku FROM stock_pushed WHERE shop = ?",
                (self.shop.name,)):
            items.add(str(r["inventory_item_id"]))
            if sku_key(r["sku"]):
                keys.add(sku_key(r["sku"]))
        return items, keys

    def feeding(self, targets: Iterable[int]) -> dict[int, frozenset[int]]:
        """Per Rackbeat location stock is registered at: the locations whose stock means
        "Rackbeat already has it" — the location and its children, and every location any
        enabled shop's sync-stock is fed from (children included, as sync-stock counts them)."""
        locations = self.runtime.rackbeat().locations()
        fed: set[int] = set()
        for shop in self.runtime.config.shops:
            if shop.enabled and shop.stock.enabled:
                for target in shop.stock.targets:
                    fed |= location_closure(locations, target.rackbeat_locations)
        return {n: frozenset(location_closure(locations, [n]) | fed) for n in targets}

    def preview(self, *, skip_inventory: bool, overwrite_stock: bool, again: bool,
                resumed: bool, stock_for: frozenset[str] = frozenset()) -> InitPreview:
        self.skip_inventory = skip_inventory
        location_map: dict[str, int] = {}
        shopify_names: dict[str, str] = {}
        if not skip_inventory:
            if not self.shop.initial.location_map:
                raise ConfigError([ConfigProblem(
                    self.path("initial.location_map"),
                    "not set: init-sync needs to know which Rackbeat location each Shopify "
                    'location\'s stock goes to, e.g. location_map = { "Main warehouse" = 1 }; '
                    "or pass --skip-inventory to create products only")])
            location_map, shopify_names = self.shopify_locations()
        rb_names = self.rackbeat_locations(location_map.values()) if location_map else {}
        group, vat, group_keeps_stock = self.default_group()
        self.read_shopify()
        self.read_rackbeat("preview")
        self.read_journal()
        live = None if skip_inventory else self.live_shop()
        options = PlanOptions(location_map=location_map, location_names=shopify_names,
                              skip_inventory=skip_inventory, overwrite_stock=overwrite_stock,
                              new_items_keep_stock=group_keeps_stock,
                              feeding=self.feeding(set(location_map.values())),
                              live_shop=live, stock_for=stock_for)
        planner = _Planner(self, options, group, vat)
        planner.groups, planner.group_vat = self.product_groups()
        if self.shop.products.create_groups:
            planner.next_group = max([*planner.groups.values(), 0]) + 1
            planner.new_group_inventory = group_keeps_stock
        if not skip_inventory:
            planner.pushed_items, planner.pushed_keys = self.pushed()
        planner.run()
        if planner.counts.get("to_create") and group is None:
            raise ConfigError([ConfigProblem(
                self.path("products.default_group"),
                f"init-sync creates {planner.counts['to_create']} products in Rackbeat and needs "
                "the product group to put them in: set default_group = <a Rackbeat product group "
                "number> under [shops.products]")])
        warnings = [PERMANENT_WARNING]
        latest = self.journal.latest()
        if resumed and latest is not None:
            warnings.append(
                f"resuming init-sync #{self.generation}, started {latest.detail.get('started_at')}"
                " and interrupted: what it created and registered is kept and counted once; "
                "the rest is done now")
        if again and resumed:
            warnings.append(f"--again has no effect yet: the interrupted init-sync "
                            f"#{self.generation} is finished first")
        elif again and self.generation > 1:
            warnings.append(
                f"--again: this is init-sync #{self.generation} of shop {self.shop.name}; "
                "existing products are linked and stock is registered only where Rackbeat has "
                "none" + (" (or differs: --overwrite-stock)" if overwrite_stock else ""))
        if live is not None and not skip_inventory:
            warnings.append(
                f"shop {live} is live already, so Rackbeat holds the stock: this go-live imports "
                "products and links, and stock only for the SKUs named with --stock-for "
                f"({len(stock_for)} named)")
        if skip_inventory:
            warnings.append("--skip-inventory: no stock is registered")
        elif overwrite_stock:
            kept = sum(1 for _ in self.spool.conn.execute(
                "SELECT 1 FROM plan_stock WHERE action = 'register' AND before != '0'"))
            warnings.append(f"--overwrite-stock: {kept} locations where Rackbeat already has "
                            "stock are set to Shopify's quantity")
        warnings += planner.warnings(shopify_names, self.path("initial.location_map"))
        totals = []
        sources: dict[int, tuple[str, ...]] = {}
        for number in options.rackbeat_locations:
            t = planner.totals.get(number, LocationTotals(number, rb_names.get(number, "")))
            totals.append(LocationTotals(number, rb_names.get(number, ""), t.adjustments, t.units,
                                         t.change, t.kept))
            sources[number] = tuple(shopify_names.get(g, g) for g in options.sources(number))
        return InitPreview(
            shop=self.shop.name, generation=self.generation, resumed=resumed,
            skip_inventory=skip_inventory, overwrite_stock=overwrite_stock, again=again,
            counts=planner.counts, locations=totals, warnings=warnings,
            marker=marker_for(self.shop.name, self.generation),
            location_names=rb_names, sources=sources, created_at=utcnow(), _spool=self.spool,
            new_groups=planner.new_groups)

    # -- progress ------------------------------------------------------------------------------

    def _phase(self, name: str, total: int | None = None) -> None:
        if self.progress:
            self.progress.start(name, total)

    def _advance(self) -> None:
        if self.progress:
            self.progress.advance()

    def _done(self) -> None:
        if self.progress:
            self.progress.finish()


def _read_rackbeat(rb: RackbeatClient, spool: _Spool, snap: str, *, stock: bool,
                   progress: ProgressSink | None, shop: str) -> None:
    """Rackbeat's items (``/items``) and, with ``stock``, the stock report
    (``/reports/checking``), 1,000 a call, into snapshot ``snap`` of the spool. An item in the
    report keeps stock (a product in a group with inventory, or a BOM)."""
    if progress:
        progress.start(f"{shop}: reading Rackbeat items", None)

    def items() -> Iterator[tuple[str, str, str, str, int]]:
        for item in rb.iter_list("items", page_size=RACKBEAT_PAGE):
            number = str(item.get("number") or "")
            if sku_key(number):
                if progress:
                    progress.advance()
                yield (snap, sku_key(number), number, str(item.get("type") or "product"), 0)

    spool.insert("rb_items", items())
    if progress:
        progress.finish()
    if not stock:
        return
    if progress:
        progress.start(f"{shop}: reading Rackbeat stock", None)
    rows: list[tuple[str, str, int, str]] = []
    for row in rb.iter_list("reports/checking", {"show_all_locations": "true"},
                            page_size=RACKBEAT_PAGE):
        key = sku_key(str(row.get("number") or ""))
        if not key:
            continue
        spool.conn.execute("UPDATE rb_items SET keeps_stock = 1 WHERE snap = ? AND key = ?",
                           (snap, key))
        for loc in row.get("locations") or []:
            qty = _dec(loc.get("stock_quantity"))
            if loc.get("number") is not None and qty:
                rows.append((snap, key, int(loc["number"]), str(qty)))
        if progress:
            progress.advance()
        if len(rows) >= SPOOL_BATCH:
            spool.insert("rb_stock", rows)
            rows.clear()
    spool.insert("rb_stock", rows)
    if progress:
        progress.finish()


class _Planner:
    """Plans SKU by SKU from the spool into the plan tables."""

    def __init__(self, reader: _Reader, options: PlanOptions, group: int | None,
                 vat: Decimal) -> None:
        self.reader = reader
        self.spool = reader.spool
        self.shop = reader.shop
        self.options = options
        self.group = group
        self.vat = vat
        self.counts: dict[str, int] = {}
        self.totals: dict[int, LocationTotals] = {}
        self.unmapped: dict[str, tuple[int, int]] = {}  # gid -> (units, SKUs)
        cfg = self.shop.products
        self.fields = tuple(dict.fromkeys((*cfg.shopify_fields, "name", "sales_price")))
        self.rb_incl = reader.runtime.config.rackbeat.prices_include_vat
        self.products: list[tuple[Any, ...]] = []
        self.stock: list[tuple[Any, ...]] = []
        self.notes: list[tuple[Any, ...]] = []
        self.groups: dict[str, int] = {}  # Rackbeat group number by case-folded name
        self.group_vat: dict[int, Decimal] = {}
        self.next_group: int | None = None  # set when products.create_groups allows new ones
        self.new_group_inventory = True
        self.new_groups: dict[int, dict[str, Any]] = {}
        self.pushed_items: set[str] = set()  # what sync-stock pushed to this shop
        self.pushed_keys: set[str] = set()

    def bump(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def run(self) -> None:
        total = int(self.spool.one("SELECT COUNT(*) FROM variants") or 0)
        self.counts["variants"] = total
        self.counts["products"] = int(self.spool.one("SELECT COUNT(*) FROM products") or 0)
        self.reader._phase(f"{self.shop.name}: planning", total)
        cur = self.spool.conn.execute(
            "SELECT v.key, v.id, v.product_id, v.item_id, v.data, p.data, i.tracked, "
            "(SELECT COUNT(*) FROM variants x WHERE x.product_id = v.product_id) "
            "FROM variants v LEFT JOIN products p ON p.id = v.product_id "
            "LEFT JOIN items i ON i.id = v.item_id ORDER BY v.key, v.seq")
        rows = cur.fetchmany(SPOOL_BATCH)
        pending: list[Any] = []
        while rows:
            pending.extend(rows)
            # plan every complete key group held; the last group may go on in the next batch
            last = pending[-1][0]
            ready = [r for r in pending if r[0] != last]
            pending = [r for r in pending if r[0] == last]
            self._plan_rows(ready)
            rows = cur.fetchmany(SPOOL_BATCH)
        self._plan_rows(pending)
        self._flush()
        self.reader._done()

    def _plan_rows(self, rows: Sequence[Any]) -> None:
        for key, group in itertools.groupby(rows, key=lambda r: r[0]):
            members = list(group)
            variants = [self._variant(r) for r in members]
            if not key:
                for r, v in zip(members, variants, strict=True):
                    self._record(plan_no_sku(v), r)
            else:
                item_id = members[0][3]
                pushed = key in self.pushed_keys or (item_id is not None
                                                     and str(item_id) in self.pushed_items)
                self._record(self._plan_key(key, variants, pushed), members[0])
            if self.reader.progress:
                self.reader.progress.advance(len(members))
        if len(self.products) + len(self.stock) >= SPOOL_BATCH:
            self._flush()

    def _variant(self, row: Sequence[Any]) -> ShopifyVariant:
        _, vid, pid, item_id, vdata, pdata, tracked, _count = row
        v = json.loads(vdata)
        p = json.loads(pdata) if pdata else {}
        available: dict[str, int] = {}
        if item_id and not self.options.skip_inventory:
            for loc, qty in self.spool.conn.execute(
                    "SELECT location_id, qty FROM levels WHERE item_id = ?", (item_id,)):
                available[str(loc)] = available.get(str(loc), 0) + int(qty)
        if tracked is None:
            tracked = (v.get("inventoryItem") or {}).get("tracked", True)
        title = str(p.get("title") or "")
        vt = str(v.get("title") or "")
        label = f"{title} / {vt}" if vt and vt != "Default Title" else title
        return ShopifyVariant(str(vid), str(pid), v.get("sku"), label, bool(tracked), available)

    def _plan_key(self, key: str, variants: Sequence[ShopifyVariant],
                  pushed: bool = False) -> SkuPlan:
        rb = self.spool.conn.execute(
            "SELECT number, type, keeps_stock FROM rb_items WHERE snap = 'preview' AND key = ?",
            (key,)).fetchone()
        rackbeat = None
        if rb is not None:
            on_hand = {int(loc): Decimal(q) for loc, q in self.spool.conn.execute(
                "SELECT location, qty FROM rb_stock WHERE snap = 'preview' AND key = ?", (key,))}
            rackbeat = RackbeatStock(str(rb[0]), str(rb[1]), bool(rb[2]), on_hand)
        jp = self.spool.one("SELECT state FROM j_products WHERE key = ?", (key,))
        js = {int(loc): JournalledAdjustment(str(state), Decimal(before), Decimal(after))
              for loc, state, before, after in self.spool.conn.execute(
                  "SELECT location, state, before, after FROM j_stock WHERE key = ?", (key,))}
        return plan_sku(key, variants, rackbeat, self.options, journal_product=jp,
                        journal_stock=js, pushed=pushed)

    def _record(self, plan: SkuPlan, row: Sequence[Any]) -> None:
        p = plan.product
        name, payload = "", None
        action, reason = p.action, p.reason
        if p.action == "create" and p.variant is not None:
            try:
                body, shortened = self._payload(row)
                name, payload = str(body.get("name") or ""), json.dumps(body)
                for note in shortened:
                    self.notes.append((None, p.key, p.sku, note))
                    self.bump("names_shortened")
            except (ValueError, InvalidOperation) as exc:
                action, reason = "invalid", f"cannot be mapped to a Rackbeat product: {exc}"
        elif p.action == "link":
            name = ""
        label = p.variant.label if p.variant else (p.holders[0].label if p.holders else "")
        state = p.state
        self.products.append((None, p.key, p.sku, p.number, action, state, reason,
                              p.variant.variant_id if p.variant else p.holders[0].variant_id,
                              p.variant.product_id if p.variant else p.holders[0].product_id,
                              label, name, payload, ""))
        counter = {"create": "created_earlier" if state == "done" else "to_create",
                   "link": "linked", "no_sku": "without_sku", "duplicate": "duplicate_skus",
                   "invalid": "invalid"}[action]
        self.bump(counter)
        if action == "duplicate":
            self.bump("duplicate_variants", len(p.holders))
        if action == "invalid":
            return  # no stock for a product that will not exist
        for s in plan.stock:
            self.stock.append((None, s.key, p.sku, s.number, s.location, s.action, s.state,
                               str(s.before), str(s.after), s.shopify, s.reason, ""))
            t = self.totals.get(s.location, LocationTotals(s.location, ""))
            if s.action == "register":
                t = LocationTotals(s.location, "", t.adjustments + 1, t.units + s.after,
                                   t.change + s.change, t.kept)
                self.bump({"done": "stock_registered_earlier", "resume": "stock_resume"}.get(
                    s.state, "stock_register"))
            elif s.action == "keep":
                t = LocationTotals(s.location, "", t.adjustments, t.units, t.change, t.kept + 1)
                self.bump("stock_kept")
            elif s.action == "same":
                self.bump("stock_same")
            else:
                self.bump("stock_not_imported")
            self.totals[s.location] = t
        for note in plan.notes:
            self.notes.append((None, p.key, p.sku, note))
            self.bump("negative_quantities")
        for gid, qty in plan.unmapped:
            units, skus = self.unmapped.get(gid, (0, 0))
            self.unmapped[gid] = (units + qty, skus + 1)
            self.bump("unmapped_units", qty)

    def _payload(self, row: Sequence[Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The new item's body (barcode, weight, the group its product type names: nothing the
        shop has is left behind) and warnings (a name shortened to Rackbeat's limit)."""
        _, _, _, _, vdata, pdata, _, count = row
        product = json.loads(pdata) if pdata else {}
        cfg = self.shop.products
        kind = str(product.get("productType") or "").strip()
        if kind and kind.casefold() not in self.groups and self.next_group is not None:
            # products.create_groups: a group named after the type, planned here, made at apply
            self.groups[kind.casefold()] = self.next_group
            self.group_vat[self.next_group] = self.vat
            self.new_groups[self.next_group] = {
                "name": kind, "vat_domestic": json_number(self.vat),
                "has_inventory": self.new_group_inventory}
            self.counts["groups_to_create"] = len(self.new_groups)
            self.next_group += 1
        group = group_for_type(product.get("productType"), self.groups, self.group)
        fields = rackbeat_fields_from_variant(
            product, json.loads(vdata), prices_include_tax=self.shop.prices_include_tax,
            vat_rate=self.group_vat.get(group, self.vat) if group is not None else self.vat,
            default_group=self.group, weight_unit=cfg.weight_unit,
            fields=self.fields, rackbeat_prices_include_vat=self.rb_incl,
            variant_count=int(count or 1), barcode=True, groups=self.groups)
        return fields.payload(), fields.notes

    def _flush(self) -> None:
        self.spool.insert("plan_products", self.products)
        self.spool.insert("plan_stock", self.stock)
        self.spool.insert("notes", self.notes)
        self.products.clear()
        self.stock.clear()
        self.notes.clear()

    def warnings(self, names: Mapping[str, str], map_path: str) -> list[str]:
        out = []
        if self.new_groups:
            out.append(f"{len(self.new_groups)} product groups are created in Rackbeat for "
                       "product types no group has (products.create_groups): " + ", ".join(
                           f"{n} {g['name']!r}" for n, g in sorted(self.new_groups.items())))
        if self.counts.get("names_shortened"):
            out.append(f"{self.counts['names_shortened']} names are longer than Rackbeat allows "
                       "and are shortened (listed as notes)")
        if self.counts.get("negative_quantities"):
            out.append(f"{self.counts['negative_quantities']} negative available quantities in "
                       "Shopify are counted as 0 (listed as notes)")
        for gid, (units, skus) in sorted(self.unmapped.items()):
            out.append(f"Shopify location {names.get(gid, gid)!r} is not in {map_path}: its "
                       f"{units} units of {skus} SKUs are not imported")
        if self.counts.get("stock_not_imported"):
            out.append(f"{self.counts['stock_not_imported']} stock quantities are not imported "
                       "(BOMs, items without inventory, untracked variants; listed)")
        return out


def preview_job_result(preview: InitPreview) -> JobResult:
    """A dry run's outcome as a :class:`JobResult` (counters of the preview, exit code OK), so
    the CLI can print it like every job's summary (and as JSON with ``--log-format json``)."""
    shop = ShopResult(preview.shop, counts=dict(preview.counts))
    shop.details.update({"generation": preview.generation, "resumed": preview.resumed,
                         "warnings": list(preview.warnings)})
    return JobResult(JOB, dry_run=True, shops=[shop])


# -- apply ---------------------------------------------------------------------------------------


def default_report_path(shop: str, now: datetime | None = None,
                        folder: Path | None = None) -> Path:
    """``<folder>/init-sync-<shop>-<YYYYmmdd-HHMMSS>.csv``; the CLI passes the state store's
    folder (its default for ``--report``: a place rackshop may write to, also under systemd)."""
    moment = (now or datetime.now(UTC)).astimezone()
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in shop)
    return (folder or Path.cwd()) / f"init-sync-{safe}-{moment:%Y%m%d-%H%M%S}.csv"


def preflight(runtime: Runtime, report_path: Path | None) -> None:
    """Refuse before anything is written when the state store or the report cannot be written.

    Each is tried for real (a file created and removed next to it): permissions alone do not
    tell (root, read-only mounts, a file where a folder should be).

    Raises:
        StateError: Naming the path, what failed and how to fix it (exit 10).
    """
    checks = [(runtime.state_path, "the state store", "set state.path in the config to a "
               "writable place (or fix the folder's permissions)")]
    if report_path is not None:
        checks.append((Path(report_path), "the report",
                       "pass --report with a writable path, or fix the folder's permissions"))
    problems = []
    for path, what, fix in checks:
        why = _unwritable(Path(path).expanduser())
        if why:
            problems.append(f"{what} {path} cannot be written ({why}); {fix}")
    if problems:
        raise StateError("init-sync refused before writing anything: " + "; ".join(problems),
                         hint="nothing was imported; fix the path and run it again")


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written (``None``: it can), tried by creating a file beside it."""
    if path.is_dir():
        return "it is a folder"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as Store makes it
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        if path.exists():
            with open(path, "r+b"):
                pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def apply_init_sync(runtime: Runtime, shop: ShopConfig, preview: InitPreview, *,
                    progress: ProgressSink | None = None,
                    report_path: Path | None = None) -> JobResult:
    """Do what ``preview`` announced (after the user confirmed it).

    Under the ``init-sync`` lock of the shop: re-reads Rackbeat and refuses, writing nothing, if
    it changed in a way that invalidates the preview; creates the products, registers and books
    the adjustments (``?suppress_webhooks=true``), journalling each step; deletes stray drafts of
    this init-sync; writes the report; records the init-sync as completed when nothing failed.
    A run that fails part-way (or is killed) is finished by running init-sync again.

    Args:
        runtime: Clients and store.
        shop: The shop (the one the preview is of).
        preview: From :func:`preview_init_sync`, not closed.
        progress: Progress bars, if any.
        report_path: Where to write the CSV report (``None``: none; see
            :func:`default_report_path`).

    Returns:
        The job result; per shop counters ``products_created``, ``products_created_earlier``,
        ``products_linked``, ``stock_registered``, ``stock_registered_earlier``,
        ``units_registered``, ``stock_kept``, ``stock_superseded``, ``failed``; details
        ``generation``, ``report``, ``completed``.

    Raises:
        SafetyStopError: Rackbeat or the journal changed since the preview (nothing written).
        LockHeldError: Another init-sync of the shop is running.
        StateError: The state store or the report cannot be written (nothing written).
    """
    if preview.shop != shop.name:
        raise ValueError(f"the preview is of shop {preview.shop}, not {shop.name}")
    if preview.closed:
        raise ValueError("the preview was closed; make a new one")
    preflight(runtime, report_path)  # before the lock, the run record and the first write

    def body(shop_cfg: ShopConfig, result: ShopResult) -> None:
        _Apply(runtime, shop_cfg, preview, result, progress, report_path).run()

    return run_per_shop(runtime, JOB, [shop], body)


@dataclass
class _Settled:
    """What reading Rackbeat says about one adjustment."""

    status: str  # booked | draft | absent | superseded
    id: int | None = None
    current: Decimal | None = None


class _Apply:
    """One shop's apply."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, preview: InitPreview,
                 result: ShopResult, progress: ProgressSink | None,
                 report_path: Path | None) -> None:
        self.runtime = runtime
        self.shop = shop
        self.preview = preview
        self.spool = preview._spool
        self.result = result
        self.progress = progress
        self.report_path = report_path
        self.rb = runtime.rackbeat()
        self.gen = preview.generation
        self.marker = preview.marker
        self.journal = open_journal(runtime, shop.name, write=True)
        self.today = datetime.now().astimezone().date().isoformat()
        self.failed_keys: set[str] = set()

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
        _read_rackbeat(self.rb, self.spool, "now", stock=not self.preview.skip_inventory,
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
                                f"{_fmt(Decimal(now))}, was {_fmt(Decimal(before))}")
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
        self._phase(f"{self.shop.name}: creating products in Rackbeat", todo)
        for seq, key, sku, number, payload in self._chunks(
                "SELECT seq, key, sku, number, payload FROM plan_products WHERE action = 'create' "
                "AND state = 'todo' AND seq > ? ORDER BY seq LIMIT ?"):
            outcome, reason = self.create_product(key, sku, number, json.loads(payload))
            self.spool.conn.execute("UPDATE plan_products SET outcome = ?, reason = ? "
                                    "WHERE seq = ?", (outcome, reason, seq))
            self._advance()
        self._done()

    def _chunks(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (``seq > ? ... LIMIT ?``) a batch at a time, so memory stays flat
        and the plan tables can be updated while going through them."""
        last = 0
        while True:
            batch = self.spool.conn.execute(sql, (last, SPOOL_BATCH)).fetchall()
            if not batch:
                return
            yield from batch
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
        self._phase(f"{self.shop.name}: registering stock in Rackbeat", todo)
        for seq, key, sku, number, location, state, before, after in self._chunks(
                "SELECT seq, key, sku, number, location, state, before, after FROM plan_stock "
                "WHERE action = 'register' AND state IN ('todo', 'resume') AND seq > ? "
                "ORDER BY seq LIMIT ?"):
            if key in self.failed_keys:
                outcome, reason = "failed", "not registered: the product could not be created"
                self.result.bump("stock_failed")
            else:
                outcome, reason = self.register(key, sku, number, int(location),
                                                Decimal(before), Decimal(after), state)
            c.execute("UPDATE plan_stock SET outcome = ?, reason = ? WHERE seq = ?",
                      (outcome, reason, seq))
            self._advance()
        self._done()

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

    def settle(self, number: str, location: int, before: Decimal, after: Decimal) -> _Settled:
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
            return _Settled("booked", int(booked[0]["id"]))
        current = self.stock_at(number, location)
        if drafts and current == before:
            keep = next((a for a in drafts if _dec(a.get("quantity")) == after), None)
            self._delete([a for a in drafts if a is not keep])
            if keep is not None:
                return _Settled("draft", int(keep["id"]), current)
        else:
            self._delete(drafts)
        if current == before:
            return _Settled("absent", None, current)
        return _Settled("superseded", None, current)

    def stock_at(self, number: str, location: int) -> Decimal:
        """The item's on-hand stock at one location, read from the stock report."""
        for row in self.rb.iter_list("reports/checking", {"simple_filter[number]": number,
                                                          "show_all_locations": "true"}):
            if sku_key(str(row.get("number") or "")) != sku_key(number):
                continue
            for loc in row.get("locations") or []:
                if loc.get("number") is not None and int(loc["number"]) == location:
                    return _dec(loc.get("stock_quantity"))
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
        log.debug("%s: %s stock registered (%s)", self.shop.name, sku, _signed(change))
        return "registered", "" if not earlier else "booked by the interrupted run"

    def _superseded(self, jkey: str, sku: str, location: int,
                    current: Decimal | None) -> tuple[str, str]:
        reason = (f"not registered: Rackbeat's stock at location {location} changed meanwhile "
                  f"(now {_fmt(current or Decimal(0))}); left as Rackbeat has it")
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
                            _fmt(Decimal(before)),
                            _fmt(Decimal(after if done or action != "register" else before)),
                            reason])
            for sku, text in c.execute("SELECT sku, text FROM notes ORDER BY seq"):
                w.writerow(["note", sku, "", "", "", "", "", "", "", "", "", text])
        os.replace(tmp, path)

    # -- progress ----------------------------------------------------------------------------

    def _phase(self, name: str, total: int | None) -> None:
        if self.progress:
            self.progress.start(name, total)

    def _advance(self) -> None:
        if self.progress:
            self.progress.advance()

    def _done(self) -> None:
        if self.progress:
            self.progress.finish()


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


__all__ = [
    "JOB",
    "PERMANENT_WARNING",
    "PREVIEW_COLUMNS",
    "REPORT_COLUMNS",
    "InitPreview",
    "InitSyncDoneError",
    "LocationTotals",
    "apply_init_sync",
    "default_report_path",
    "marker_for",
    "preview_init_sync",
    "preview_job_result",
]
