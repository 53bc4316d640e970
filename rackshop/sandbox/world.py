"""Both twins together: start, seed, point a config at them.

:class:`Sandbox` is what ``rackshop sandbox serve``, ``rackshop demo``, the end-to-end tests and
the benchmarks use. It starts the Shopify and Rackbeat twins on 127.0.0.1, seeds them from one
seed, and writes a ready configuration whose secrets live in files next to it (mode 0600), as a
user's real config would.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rackshop.sandbox.base import Clock, FaultPlan, FaultRule, TwinServer
from rackshop.sandbox.seed import GROUPS, SHIPPING_ITEM, SHOP_NAMES, seed_flat, shop_token

RACKBEAT_TOKEN = "sandbox-rackbeat-token-0123456789"
WEBHOOK_SECRET = "sandbox-app-secret"


class Sandbox:
    """The Shopify and Rackbeat twins, seeded and served.

    Args:
        seed: Seed of the catalogue, stock, customers and orders.
        shops: How many Shopify shops (named dk, se, no, ...).
        products: About how many products.
        orders: Orders placed per shop.
        time_scale: Twin seconds per real second (rate limits refill this much faster).
        faults: Fault rate (0..1) on both twins, every fault kind.
        fault_seed: Seed of the fault plan.
        shopify_port: Port of the Shopify twin (0: any free port).
        rackbeat_port: Port of the Rackbeat twin (0: any free port).
        seed_data: Seed the twins (False gives empty twins for tests that build their own).
        flat: Instead of the varied seed, a flat catalogue of this many SKUs in every shop
            (benchmarks and scale tests; see :func:`rackshop.sandbox.seed.seed_flat`).
        consistency: Shopify's eventual consistency on (search and derived totals lag a write,
            bulk operations take time: ``rackshop.sandbox.shopify.consistency``), as in
            ``sandbox serve`` and the demo. ``RACKSHOP_SANDBOX_CONSISTENCY``, when set, decides.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        shops: int = 2,
        products: int = 40,
        orders: int = 12,
        time_scale: float = 1.0,
        faults: float = 0.0,
        fault_seed: int = 0,
        shopify_port: int = 0,
        rackbeat_port: int = 0,
        seed_data: bool = True,
        flat: int = 0,
        wall_clock: Callable[[], float] | None = None,
        rackbeat_variants: Sequence[str] = (),
        consistency: bool = False,
    ) -> None:
        from rackshop.sandbox.rackbeat import RackbeatTwin
        from rackshop.sandbox.shopify import ShopifyTwin
        from rackshop.sandbox.shopify.consistency import from_environment

        self.params = {"seed": seed, "shops": shops, "products": products, "orders": orders}
        self.time_scale = time_scale
        self.shop_names = list(SHOP_NAMES[: max(1, min(shops, len(SHOP_NAMES)))])
        if wall_clock is None:
            self.shopify_app = ShopifyTwin(Clock(time_scale), api_secret=WEBHOOK_SECRET)
            self.rackbeat_app = RackbeatTwin(Clock(time_scale), tokens=(RACKBEAT_TOKEN,))
        else:  # simulated time: both twins stamp records with the same injected clock
            wall = wall_clock
            self.shopify_app = ShopifyTwin(Clock(time_scale), api_secret=WEBHOOK_SECRET,
                                           wall=wall)
            self.rackbeat_app = RackbeatTwin(
                Clock(time_scale), tokens=(RACKBEAT_TOKEN,),
                wall_clock=lambda: datetime.datetime.fromtimestamp(wall(), datetime.UTC))
        if consistency:  # Shopify's eventual consistency; RACKSHOP_SANDBOX_CONSISTENCY=0 wins
            self.shopify_app.consistency.update({"enabled": True, **from_environment()})
        self.shopify = TwinServer(self.shopify_app, shopify_port,
                                  FaultPlan(seed=fault_seed))
        self.rackbeat = TwinServer(self.rackbeat_app, rackbeat_port,
                                   FaultPlan(seed=fault_seed + 1))
        self.seeded: dict[str, Any] = {}
        self.flat = flat
        if flat:
            with self.rackbeat_app.lock, self.shopify_app.lock:
                seed_flat(self.rackbeat_app, self.shopify_app, self.shop_names, flat)
        elif seed_data:
            with self.rackbeat_app.lock:
                self.seeded["rackbeat"] = self.rackbeat_app.seed(self.params)
            with self.shopify_app.lock:
                self.seeded["shopify"] = self.shopify_app.seed(self.params)
        if faults > 0:
            self.set_faults(faults)
        if rackbeat_variants:  # issue 16: documented alternatives (rackbeat/variants.py)
            from rackshop.sandbox.rackbeat.variants import check_names

            self.rackbeat_app.variants = check_names(rackbeat_variants)

    def set_faults(self, rate: float, **rule: Any) -> None:
        """Inject faults of every kind at ``rate`` on both twins (0 switches them off)."""
        for server in (self.shopify, self.rackbeat):
            server.faults.configure([FaultRule(rate=rate, **rule)] if rate > 0 else [])

    def start(self) -> Sandbox:
        self.shopify.start()
        self.rackbeat.start()
        return self

    def stop(self) -> None:
        self.shopify.stop()
        self.rackbeat.stop()
        for app in (self.shopify_app, self.rackbeat_app):
            close = getattr(app, "close", None)
            if close:
                close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration ---------------------------------------------------------------------

    def config_dict(self, secrets_dir: Path, state_path: Path) -> dict[str, Any]:
        """A complete config (as a TOML-ready dict) pointing at the running twins.

        Secrets are written as files in ``secrets_dir`` (mode 0600) and referenced with
        ``{ file = ... }``, never inline.
        """
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

        def secret(name: str, value: str) -> dict[str, str]:
            path = secrets_dir / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(value + "\n")
            return {"file": str(path)}

        shops = [self._shop_config(i, name, secret) for i, name in enumerate(self.shop_names)]
        return {
            "rackbeat": {
                "token": secret("rackbeat-token", RACKBEAT_TOKEN),
                "base_url": f"{self.rackbeat.url}/api/",
                # the twin's limiter is scaled; pace the client to the same budget
                "requests_per_minute": int(480 * self.time_scale),
                "timeout_seconds": 10,
            },
            "state": {"path": str(state_path)},
            "shops": shops,
        }

    def _shop_config(self, index: int, name: str, secret: Any) -> dict[str, Any]:
        shop: dict[str, Any] = {
            "name": name,
            "domain": f"{name}.myshopify.com",  # what the twin sends as X-Shopify-Shop-Domain
            "base_url": f"{self.shopify.url}/shops/{name}",
            "token": secret(f"shopify-{name}-token", shop_token(name)),
            "webhook_secret": secret("shopify-webhook-secret", WEBHOOK_SECRET),
            "prices_include_tax": index != 1,
        }
        guest = (self.seeded.get("rackbeat") or {}).get("guest_customer")
        shop["orders"] = {
            "enabled": True,
            "since": datetime.date(2020, 1, 1),  # a TOML date: everything seeded is after it
            "transfer_on": ["paid", "fulfilled", "created"][index % 3],
            "process_to": ["booked", "shipped_invoiced", "draft"][index % 3],
            "shipping_item": SHIPPING_ITEM,
            # rounding lines (øreafrunding) on the freight item, so every gross amount of the
            # simulated trade reaches Rackbeat (README, "How amounts are rounded")
            "rounding_item": SHIPPING_ITEM,
            "customer": {"group": 1, "payment_terms": 1, "vat_zone": "domestic"},
        }
        if guest:
            shop["orders"]["guest_customer"] = guest
        if index % 3 == 0:  # orders booked on payment: the warehouse's shipments fulfil them
            shop["fulfillments"] = {"enabled": True, "tracking_company": "PostNord"}
        if self.flat:
            shop["products"] = {"master": "off"}
            shop["stock"] = {"enabled": True, "shopify_location": "Lager",
                             "rackbeat_locations": [[1], [1, 2], [2]][index % 3]}
        elif index == 0:
            shop["products"] = {"master": "rackbeat", "create_missing": True,
                                "default_group": min(GROUPS)}  # for an init-sync of dk
            shop["stock"] = {"enabled": True, "location_map": {"Lager": [1], "Butik": [2]},
                             "buffer": 0}
            shop["initial"] = {"location_map": {"Lager": 1, "Butik": 2}}
        elif index == 1:
            shop["products"] = {"master": "shopify", "default_group": min(GROUPS)}
            shop["stock"] = {"enabled": True, "shopify_location": "Lager",
                             "rackbeat_locations": "all", "buffer": 1}
            shop["initial"] = {"location_map": {"Lager": 1}}
        else:
            shop["products"] = {"master": "off"}
            shop["stock"] = {"enabled": True, "shopify_location": "Lager",
                             "rackbeat_locations": [1]}
        return shop

    def write_config(self, path: Path, *, state_path: Path | None = None) -> Path:
        """Write the config to ``path`` with its secrets in ``<path stem>-secrets/``."""
        from rackshop.config import write_config

        path = path.expanduser().resolve()
        secrets_dir = path.parent / f"{path.stem}-secrets"
        state = state_path or path.parent / f"{path.stem}-state.sqlite3"
        write_config(self.config_dict(secrets_dir, state), path)
        return path
