"""One ``check --contract`` run: every probe the enabled jobs need, for Rackbeat and each shop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rackshop.config import Config, ShopConfig
from rackshop.contract.rackbeat_probes import RackbeatProber, probe_rackbeat
from rackshop.contract.report import CANNOT_TELL, ContractReport, Probe, enabled_jobs
from rackshop.contract.shopify_probes import ShopifyProber, probe_shop
from rackshop.errors import AuthError, RackshopError


def run_contract(runtime: Any, shops: Sequence[ShopConfig]) -> ContractReport:
    """Probe Rackbeat and each shop for what the enabled jobs assume (reads only)."""
    config: Config = runtime.config
    report = ContractReport()
    jobs = enabled_jobs(config, shops)
    prober = RackbeatProber(runtime.rackbeat())
    try:
        probe_rackbeat(prober, config, jobs, report)
    except AuthError:
        raise
    except RackshopError as exc:
        report.add(Probe("rackbeat", "reachable", "answers", exc.message, CANNOT_TELL))
    report.calls += prober.calls
    for shop in shops:
        if not shop.enabled:
            continue
        sp = ShopifyProber(runtime.shopify(shop))
        try:
            probe_shop(sp, shop, config, report)
        except AuthError:
            raise
        except RackshopError as exc:
            report.add(Probe(f"shopify {shop.name}", "reachable", "answers", exc.message,
                             CANNOT_TELL))
        report.calls += sp.calls
    return report
