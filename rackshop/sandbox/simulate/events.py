"""The seeded event stream of a simulation: what customers, staff and operations do.

:func:`generate` draws every event of the run from the seed alone, before anything runs: the
catalogue it picks from is the one the sandbox was seeded with plus what earlier events created,
never what the jobs did. So ``--seed S --days D`` gives the same events byte for byte
(:func:`event_log` and :func:`log_digest`), whatever the jobs, faults and timing did; applying
an event may still find its record gone (an order already cancelled), which the applier notes.

Kinds (``args`` in brackets):

* Shopify orders ``shopify.order`` [shop, ref, lines (SKU or null, quantity), discount, shipping,
  paid, test, split_tax, presentment, email] and their follow-ups ``shopify.order.pay``,
  ``.fulfil`` (fulfilled by hand in Shopify), ``.cancel`` (early: usually before its transfer;
  late: after), ``.refund`` [ref], ``.edit`` [ref, delta: a line's quantity one up or down];
* Shopify hand edits ``shopify.stock`` [shop, sku, quantity], ``shopify.price`` [shop, sku,
  factor], ``shopify.sku`` [shop, sku, new], ``shopify.delete`` then ``shopify.relist`` [shop,
  sku], ``shopify.product.new`` [shop, sku, title, price];
* Rackbeat ``rackbeat.stock`` [sku, location, delta, why: receipt, correction, sale, return],
  ``rackbeat.price`` [sku, factor], ``rackbeat.name`` [sku, name], ``rackbeat.number`` [sku,
  new: the item's number renamed; later Rackbeat events use the new one],
  ``rackbeat.product.new``,
  ``rackbeat.bom.new``, and the warehouse shipping a transferred order ``rackbeat.ship`` [ref,
  parcels: 1 or 2 shipments, tracking];
* operations (only with ``--faults`` above 0) ``ops.faults`` [twin, rate, kinds, minutes],
  ``ops.token`` [shop, minutes], ``ops.overlap`` [jobs], ``ops.kill`` [job, after_ms].
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from rackshop.sandbox.simulate.clock import DAY

#: Events per simulated day (per shop for the ``shop`` ones), at ``faults = 0``.
RATES: dict[str, float] = {
    "orders": 30.0,          # per shop
    "shopify.stock": 1.0,    # per shop
    "shopify.price": 0.5,    # per shop
    "shopify.sku": 0.2,      # per shop
    "shopify.delete": 0.2,   # per shop
    "shopify.product.new": 0.3,  # per shop
    "rackbeat.stock": 40.0,
    "rackbeat.price": 3.0,
    "rackbeat.name": 2.0,
    "rackbeat.number": 0.3,
    "rackbeat.product.new": 1.0,
    "rackbeat.bom.new": 0.3,
    # operations, when faults > 0
    "ops.faults": 3.0,
    "ops.token": 0.5,
    "ops.overlap": 2.0,
    "ops.kill": 2.0,
}

JOBS = ("sync-orders", "sync-stock", "sync-products", "sync-fulfillments")
FAULT_KINDS = ("5xx", "429", "slow", "drop", "lost")
CUSTOMERS = ("karen@example.dk", "SOREN.K@example.dk", "astrid@example.se",
             "new.customer@example.com", "ny.kunde@example.dk")


@dataclass(frozen=True)
class Event:
    """One thing that happens at ``at`` seconds after the start of the simulation."""

    seq: int
    at: int
    kind: str
    args: Mapping[str, Any]

    @property
    def day(self) -> int:
        """The simulated day (1-based)."""
        return self.at // DAY + 1

    def line(self) -> str:
        """The event as one canonical JSON line (the event log's format)."""
        return json.dumps({"seq": self.seq, "at": self.at, "kind": self.kind,
                           "args": self.args}, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"))

    def describe(self) -> str:
        """Short human form: ``d1 08:05 shopify.order dk-17``."""
        secs = self.at % DAY
        what = " ".join(f"{k}={v}" for k, v in sorted(self.args.items())
                        if k in ("shop", "ref", "sku", "job", "twin", "delta", "new", "quantity"))
        clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}"
        return f"#{self.seq} d{self.day} {clock} {self.kind} {what}"


@dataclass
class Catalogue:
    """What the generator may pick from: SKUs per shop, Rackbeat items and locations."""

    shop_skus: dict[str, list[str]]
    rackbeat_skus: list[str]
    locations: list[int]
    boms: list[str] = field(default_factory=list)  # Rackbeat BOM (lot) numbers


@dataclass
class _Plan:
    """Generator state: the events so far and what they created (never what jobs did)."""

    rng: random.Random
    days: int
    events: list[tuple[int, int, str, dict[str, Any]]] = field(default_factory=list)
    order_no: int = 0
    new_no: int = 0

    def add(self, at: float, kind: str, **args: Any) -> None:
        at = int(at)
        if 0 <= at < self.days * DAY:
            self.events.append((at, len(self.events), kind, args))

    def count(self, rate: float) -> int:
        """How many events of a kind on one day (about ``rate``, seeded)."""
        if rate <= 0:
            return 0
        return max(0, round(self.rng.gauss(rate, math.sqrt(rate))))

    def moment(self, day: int, busy: bool = True) -> int:
        """A second in ``day`` (0-based); ``busy`` moments fall mostly between 07 and 23."""
        if busy and self.rng.random() < 0.85:
            return day * DAY + self.rng.randrange(7 * 3600, 23 * 3600)
        return day * DAY + self.rng.randrange(DAY)


def generate(seed: int, days: int, catalogue: Catalogue, *, faults: float = 0.0,
             orders_per_day: float | None = None) -> list[Event]:
    """Every event of a run, in time order, drawn from ``seed`` alone.

    Args:
        seed: The simulation seed.
        days: Simulated days.
        catalogue: SKUs, items and locations the sandbox was seeded with.
        faults: The fault rate; above 0 adds the operations (fault windows, a revoked token,
            overlapping jobs, killed passes).
        orders_per_day: Orders per shop and day (default :data:`RATES` ``orders``).
    """
    plan = _Plan(random.Random(f"rackshop-simulate:{seed}"), days)
    catalogue = replace(catalogue, boms=list(catalogue.boms))  # grows; the caller's stays
    shop_skus = {s: list(skus) for s, skus in sorted(catalogue.shop_skus.items())}
    rb_skus = list(catalogue.rackbeat_skus)
    per_day = RATES["orders"] if orders_per_day is None else orders_per_day
    for day in range(days):
        for shop, skus in shop_skus.items():
            for _ in range(plan.count(per_day)):
                _order(plan, shop, skus, catalogue, plan.moment(day))
            _shopify_edits(plan, shop, skus, catalogue, day)
        _rackbeat(plan, rb_skus, catalogue, shop_skus, day)
        if faults > 0:
            _operations(plan, sorted(shop_skus), faults, day)
    plan.events.sort(key=lambda e: (e[0], e[1]))
    return [Event(i + 1, at, kind, args) for i, (at, _, kind, args) in enumerate(plan.events)]


def _order(plan: _Plan, shop: str, skus: Sequence[str], cat: Catalogue, at: int) -> None:
    rng = plan.rng
    plan.order_no += 1
    ref = f"{shop}-{plan.order_no}"
    if rng.random() < 0.02:
        lines: list[list[Any]] = [[rng.choice(skus), rng.randint(1, 2)]
                                  for _ in range(rng.randint(60, 70))]
    else:
        lines = [[sku, rng.randint(1, 3)] for sku in rng.sample(skus, k=min(len(skus),
                                                                            rng.randint(1, 5)))]
    if rng.random() < 0.05:
        lines.append([None, 1])  # a custom line without SKU (a gift wrap typed at the till)
    if cat.boms and rng.random() < 0.05:
        lines.append([rng.choice(cat.boms), 1])  # a BOM (a custom line if the shop lacks it)
    discount: dict[str, Any] | None = None
    r = rng.random()
    if r < 0.15:
        discount = {"pct": rng.choice([5, 10, 15, 20, 33])}
    elif r < 0.22:
        discount = {"fixed": f"{rng.randint(5, 60)}.{rng.choice(['00', '50', '99'])}"}
    paid = rng.random() < 0.8
    plan.add(at, "shopify.order", shop=shop, ref=ref, lines=lines, discount=discount,
             shipping=rng.choice([None, "49.00", "39.95", "0.00"]), paid=paid,
             test=rng.random() < 0.03, split_tax=rng.random() < 0.1,
             presentment=rng.choice(["EUR", "USD"]) if rng.random() < 0.1 else None,
             email=rng.choice(CUSTOMERS) if rng.random() < 0.9 else None)
    if not paid and rng.random() < 0.7:
        plan.add(at + rng.randrange(600, 8 * 3600), "shopify.order.pay", ref=ref)
    r = rng.random()
    if r < 0.2:  # fulfilled by hand in Shopify
        plan.add(at + rng.randrange(3600, 30 * 3600), "shopify.order.fulfil", ref=ref)
    elif r < 0.65:  # shipped from the warehouse in Rackbeat, once it is there
        plan.add(at + rng.randrange(2 * 3600, 30 * 3600), "rackbeat.ship", ref=ref,
                 parcels=2 if rng.random() < 0.2 else 1, tracking=f"00370{plan.order_no:08d}")
    r = rng.random()
    if r < 0.04:
        plan.add(at + rng.randrange(60, 20 * 60), "shopify.order.cancel", ref=ref)
    elif r < 0.07:
        plan.add(at + rng.randrange(2 * 3600, 20 * 3600), "shopify.order.cancel", ref=ref)
    elif r < 0.12:
        plan.add(at + rng.randrange(2 * 3600, 30 * 3600), "shopify.order.refund", ref=ref)
    elif r < 0.16:  # a quantity edited, usually after the transfer
        plan.add(at + rng.randrange(2 * 3600, 20 * 3600), "shopify.order.edit", ref=ref,
                 delta=rng.choice([-1, 1]))


def _shopify_edits(plan: _Plan, shop: str, skus: list[str], cat: Catalogue, day: int) -> None:
    rng = plan.rng
    for _ in range(plan.count(RATES["shopify.stock"])):
        plan.add(plan.moment(day), "shopify.stock", shop=shop, sku=rng.choice(skus),
                 quantity=rng.randint(0, 40))
    for _ in range(plan.count(RATES["shopify.price"])):
        plan.add(plan.moment(day), "shopify.price", shop=shop, sku=rng.choice(skus),
                 factor=rng.choice(["0.90", "1.10", "1.25"]))
    for _ in range(plan.count(RATES["shopify.sku"])):
        sku = rng.choice(skus)
        plan.new_no += 1
        plan.add(plan.moment(day), "shopify.sku", shop=shop, sku=sku, new=f"{sku}-X{plan.new_no}")
    for _ in range(plan.count(RATES["shopify.delete"])):
        sku, at = rng.choice(skus), plan.moment(day)
        plan.add(at, "shopify.delete", shop=shop, sku=sku)
        plan.add(at + rng.randrange(3600, 6 * 3600), "shopify.relist", shop=shop, sku=sku)
    for _ in range(plan.count(RATES["shopify.product.new"])):
        plan.new_no += 1
        sku = f"SHOP-{shop.upper()}-{plan.new_no}"
        plan.add(plan.moment(day), "shopify.product.new", shop=shop, sku=sku,
                 title=f"Håndlavet vare {plan.new_no}", price=f"{rng.randint(50, 900)}.00")
        skus.append(sku)


def _rackbeat(plan: _Plan, rb_skus: list[str], cat: Catalogue, shop_skus: dict[str, list[str]],
              day: int) -> None:
    rng = plan.rng
    for _ in range(plan.count(RATES["rackbeat.stock"])):
        why = rng.choice(["receipt", "correction", "correction", "sale", "sale", "return"])
        delta = {"receipt": rng.randint(1, 12), "sale": -1, "return": 1}.get(
            why, rng.choice([-1, 1]))
        plan.add(plan.moment(day, busy=False), "rackbeat.stock", sku=rng.choice(rb_skus),
                 location=rng.choice(cat.locations), delta=delta, why=why)
    for _ in range(plan.count(RATES["rackbeat.price"])):
        plan.add(plan.moment(day), "rackbeat.price", sku=rng.choice(rb_skus),
                 factor=rng.choice(["0.95", "1.05", "1.10", "1.333"]))
    for _ in range(plan.count(RATES["rackbeat.name"])):
        plan.new_no += 1
        plan.add(plan.moment(day), "rackbeat.name", sku=rng.choice(rb_skus),
                 name=f"Omdøbt vare {plan.new_no}")
    for _ in range(plan.count(RATES["rackbeat.number"])):
        plan.new_no += 1
        i = rng.randrange(len(rb_skus))
        new = f"{rb_skus[i]}-R{plan.new_no}"
        plan.add(plan.moment(day), "rackbeat.number", sku=rb_skus[i], new=new)
        rb_skus[i] = new
    for _ in range(plan.count(RATES["rackbeat.product.new"])):
        plan.new_no += 1
        sku = f"SIM-{plan.new_no}"
        plan.add(plan.moment(day), "rackbeat.product.new", sku=sku, name=f"Ny vare {plan.new_no}",
                 price=f"{rng.randint(20, 700)}.00", group=rng.choice([1000, 1100, 1200]),
                 stock={str(loc): rng.randint(0, 20) for loc in cat.locations
                        if rng.random() < 0.6})
        rb_skus.append(sku)
    for _ in range(plan.count(RATES["rackbeat.bom.new"])):
        plan.new_no += 1
        parts = rng.sample(rb_skus, k=min(2, len(rb_skus)))
        cat.boms.append(f"KIT-SIM-{plan.new_no}")
        plan.add(plan.moment(day), "rackbeat.bom.new", sku=f"KIT-SIM-{plan.new_no}",
                 name=f"Gavesæt {plan.new_no}", price=f"{rng.randint(100, 900)}.00",
                 components={p: rng.randint(1, 3) for p in parts})


def _operations(plan: _Plan, shops: Sequence[str], faults: float, day: int) -> None:
    rng = plan.rng
    for _ in range(plan.count(RATES["ops.faults"])):
        kinds = sorted(rng.sample(FAULT_KINDS, k=rng.randint(1, 3)))
        plan.add(plan.moment(day, busy=False), "ops.faults",
                 twin=rng.choice(["shopify", "rackbeat"]), kinds=kinds,
                 rate=round(min(0.6, faults * rng.uniform(3, 8)), 3),
                 minutes=rng.randint(10, 60))
    if rng.random() < RATES["ops.token"]:
        plan.add(plan.moment(day), "ops.token", shop=rng.choice(list(shops)), minutes=60)
    for _ in range(plan.count(RATES["ops.overlap"])):
        plan.add(plan.moment(day, busy=False), "ops.overlap",
                 jobs=[rng.choice(JOBS), rng.choice(JOBS)])
    for _ in range(plan.count(RATES["ops.kill"])):
        plan.add(plan.moment(day, busy=False), "ops.kill", job=rng.choice(JOBS),
                 after_ms=rng.randint(0, 1500))


def event_log(events: Iterable[Event]) -> str:
    """The event log: one canonical JSON line per event."""
    return "".join(e.line() + "\n" for e in events)


def log_digest(events: Iterable[Event]) -> str:
    """SHA-256 of :func:`event_log` (two runs with the same seed and days agree)."""
    return hashlib.sha256(event_log(events).encode("utf-8")).hexdigest()


def price_times(price: str, factor: str) -> str:
    """``price`` × ``factor`` to the cent (hand edits of prices)."""
    return str((Decimal(price) * Decimal(factor)).quantize(Decimal("0.01")))
