"""The verdicts of ``check --contract``: one :class:`Probe` per assumption, the
:class:`ContractReport` of a run, and which jobs are enabled (and so which assumptions matter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rackshop.config import Config, ShopConfig
from rackshop.errors import ExitCode

OK = "ok"

CANNOT_TELL = "cannot tell"

# Job names as the CLI spells them.
ORDERS = "sync-orders"

STOCK = "sync-stock"

PRODUCTS = "sync-products"

FULFILLMENTS = "sync-fulfillments"

LISTEN = "listen"

#: Shopify access scopes each job needs (``write_x`` implies ``read_x``, as Shopify grants).
JOB_SCOPES: dict[str, tuple[str, ...]] = {
    ORDERS: ("read_orders", "write_orders"),
    STOCK: ("read_products", "read_inventory", "write_inventory", "read_locations",
            "read_orders"),
    PRODUCTS: ("read_products", "read_inventory", "read_locations"),
    FULFILLMENTS: ("read_orders", "read_merchant_managed_fulfillment_orders",
                   "write_merchant_managed_fulfillment_orders"),
}

#: Extra scopes when the shop's products are created and written from Rackbeat.
RACKBEAT_MASTER_SCOPES = ("write_products", "write_inventory", "write_publications")

#: The rate each configured ``plan`` implies: (bucket size, restore rate in cost points/s).
PLAN_RATES: dict[str, tuple[float, float]] = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}

#: How per-location availability is read (the recorded ``per_location`` value).
REPORTED = "reported"

MINUS_IN_ORDER = "stock-minus-in-order"

MINUS_BOOKED_LINES = "stock-minus-booked-lines"


def using(fallback: str) -> str:
    return f"differs: using {fallback}"


def cannot_run(jobs: Iterable[str]) -> str:
    names = sorted(set(jobs))
    return f"differs: job{'s' if len(names) > 1 else ''} {', '.join(names)} cannot run"


@dataclass(frozen=True)
class Probe:
    """One row of the contract table.

    Attributes:
        api: ``rackbeat`` or ``shopify <shop>``.
        assumption: What rackshop relies on.
        expected: What it expects to see.
        observed: What the account answered.
        verdict: ``ok``, ``differs: using …``, ``differs: job X cannot run`` or ``cannot tell``.
        jobs: The enabled jobs that rely on it.
        key: The contract key recorded for jobs (``None``: nothing to record).
        value: The recorded value.
    """

    api: str
    assumption: str
    expected: str
    observed: str
    verdict: str
    jobs: tuple[str, ...] = ()
    key: str | None = None
    value: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"api": self.api, "assumption": self.assumption, "expected": self.expected,
                "observed": self.observed, "verdict": self.verdict, "jobs": list(self.jobs),
                "key": self.key, "value": self.value}


@dataclass
class ContractReport:
    """Every probe, and the jobs that cannot run."""

    probes: list[Probe] = field(default_factory=list)
    calls: int = 0

    def add(self, probe: Probe) -> None:
        self.probes.append(probe)

    @property
    def blocked(self) -> list[str]:
        """The jobs some probe says cannot run, each once, sorted."""
        out: set[str] = set()
        for p in self.probes:
            if p.verdict.startswith("differs: job"):
                out.update(p.jobs)
        return sorted(out)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.CONTRACT if self.blocked else ExitCode.OK

    def as_json(self) -> dict[str, Any]:
        return {"probes": [p.as_json() for p in self.probes], "blocked_jobs": self.blocked,
                "exit_code": int(self.exit_code), "calls": self.calls}


def enabled_jobs(config: Config, shops: Sequence[ShopConfig]) -> dict[str, list[str]]:
    """Job -> the shops it runs for (``listen``: every shop; pure)."""
    jobs: dict[str, list[str]] = {}
    for shop in shops:
        if not shop.enabled:
            continue
        if shop.orders.enabled:
            jobs.setdefault(ORDERS, []).append(shop.name)
        if shop.stock.enabled:
            jobs.setdefault(STOCK, []).append(shop.name)
        if shop.products.master != "off":
            jobs.setdefault(PRODUCTS, []).append(shop.name)
        if shop.fulfillments.enabled:
            jobs.setdefault(FULFILLMENTS, []).append(shop.name)
    if config.listen.public_url:
        jobs[LISTEN] = [s.name for s in shops if s.enabled]
    return jobs


def shop_jobs(shop: ShopConfig) -> list[str]:
    """The jobs enabled for one shop (pure)."""
    out = []
    if shop.orders.enabled:
        out.append(ORDERS)
    if shop.stock.enabled:
        out.append(STOCK)
    if shop.products.master != "off":
        out.append(PRODUCTS)
    if shop.fulfillments.enabled:
        out.append(FULFILLMENTS)
    return out
