"""init-sync's read: both bulk reads and Rackbeat into the spool, then the plan made SKU by SKU
(:mod:`rackshop.sync.initial_plan`) and kept in the spool for the preview and the apply.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    ConfigError,
    ConfigProblem,
)
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
from rackshop.sync.initial_preview import PERMANENT_WARNING, InitPreview, LocationTotals
from rackshop.sync.initial_spool import SPOOL_BATCH, Spool, read_rackbeat
from rackshop.sync.initial_store import (
    ADJUSTMENT,
    PRODUCT,
    InitJournal,
    open_journal,
)
from rackshop.sync.product_map_rackbeat import rackbeat_fields_from_variant
from rackshop.sync.product_values import group_for_type, json_number, sku_key
from rackshop.sync.runner import OptionalProgress, ProgressSink
from rackshop.sync.stock_plan import location_closure


def marker_for(shop: str, generation: int) -> str:
    """The text every adjustment of one init-sync carries in its ``reason``."""
    return f"[rackshop init-sync {shop} #{generation}]"


class Reader:
    """Reads both sides into the spool and plans."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, journal: InitJournal, generation: int,
                 progress: ProgressSink | None) -> None:
        self.runtime = runtime
        self.shop = shop
        self.journal = journal
        self.generation = generation
        self.progress = progress
        self.bars = OptionalProgress(progress)
        self.spool = Spool()
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
        self.bars.start(f"{self.shop.name}: reading Shopify products (bulk)")
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
                self.bars.advance()
            if len(products) + len(variants) >= SPOOL_BATCH:
                flush()
        flush()
        self.bars.finish()
        if self.skip_inventory:
            return
        self.bars.start(f"{self.shop.name}: reading Shopify stock (bulk)")
        items: list[tuple[str, int]] = []
        levels: list[tuple[str, str, int]] = []
        for line in run_bulk_query(client, bulk_query_text("InitBulkInventory")):
            parent = line.get("__parentId")
            if parent is None:
                items.append((str(line["id"]), int(bool(line.get("tracked")))))
                self.bars.advance()
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
        self.bars.finish()

    def read_rackbeat(self, snap: str) -> None:
        """Every Rackbeat item (and its stock per location) into snapshot ``snap``."""
        read_rackbeat(self.runtime.rackbeat(), self.spool, snap, stock=not self.skip_inventory,
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
        store = self.runtime.open_store(create=False)
        if store is None:
            return None
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
        store = self.runtime.open_store(create=False)
        if store is None:
            return set(), set()
        items: set[str] = set()
        keys: set[str] = set()
        for r in store.conn.execute(
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
        planner = Planner(self, options, group, vat)
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

class Planner:
    """Plans SKU by SKU from the spool into the plan tables."""

    def __init__(self, reader: Reader, options: PlanOptions, group: int | None,
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
        self.reader.bars.start(f"{self.shop.name}: planning", total)
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
        self.reader.bars.finish()

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
            self.reader.bars.advance(len(members))
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
