"""A go-live world for init-sync tests and the benchmark, and a runner for subprocess runs.

:func:`build_init_world` fills empty twins (``Sandbox(seed_data=False, shops=1)``) with one shop
``dk`` of ``variants`` variants over two Shopify locations (Lager, Butik), deterministically:
variants without SKU, SKUs held twice, untracked variants, negative and zero stock, and SKUs
Rackbeat already has (some with stock, some without, one in another case, a BOM, an item without
inventory). :func:`write_init_config` points a config at it (Shopify master, default group 1000,
``initial.location_map = {Lager = 1, Butik = 2}``).

``python -m tests.helpers.init_world CONFIG SHOP [REPORT]`` previews and applies an init-sync
(``--yes``, as the CLI will) and exits with the job's exit code: what the crash tests kill.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w

from rackshop.sandbox.seed import shop_token
from rackshop.sandbox.world import Sandbox

LOCATIONS = ("Lager", "Butik")


def sku_of(i: int) -> str:
    return f"INIT-{i:05d}"


def build_init_world(sandbox: Sandbox, variants: int = 2000) -> dict[str, int]:
    """Seed both (empty) twins; returns counts of what the world holds."""
    rb = sandbox.rackbeat_app
    sh = sandbox.shopify_app
    stats = {"variants": 0, "no_sku": 0, "duplicates": 0, "in_rackbeat": 0, "negative": 0,
             "untracked": 0}
    with rb.lock:
        rb.add_location(1, "Hovedlager", is_default=True)
        rb.add_location(2, "Butik")
        rb.add_location(21, "Butik baglager", parent=2)
        rb.add_product_group(1000, "Varer", vat_domestic=25.0)
        rb.add_product_group(9000, "Gebyrer", vat_domestic=25.0, has_inventory=False)
        rb.add_product("FRAGT", "Fragt", 0.0, 9000)
    with sh.lock:
        sh.add_shop("dk", token=shop_token("dk"), currency="DKK", taxes_included=True,
                    locations=LOCATIONS)
    i = 0
    product = 0
    while i < variants:
        size = 1 + product % 3
        size = min(size, variants - i)
        specs = []
        for j in range(size):
            n = i + j
            sku: str | None = sku_of(n)
            if n % 97 == 5:
                sku = None
                stats["no_sku"] += 1
            elif n % 89 == 7 and (n - 1) % 97 != 5:
                sku = sku_of(n - 1)  # the same SKU on two variants
                stats["duplicates"] += 1
            lager = (n * 7) % 13 - 2  # -2..10: negatives, zeros and stock
            butik = (n % 5) if n % 3 == 0 else 0
            stats["negative"] += lager < 0
            tracked = n % 61 != 9
            stats["untracked"] += not tracked
            specs.append({
                "sku": sku or "", "price": f"{100 + (n * 37) % 900}.{n % 100:02d}",
                "barcode": f"57{n:011d}" if n % 4 else None,
                "weight": round(0.05 + (n % 40) / 10, 3), "weight_unit": "KILOGRAMS",
                "tracked": tracked, "taxable": n % 10 != 3,
                "option": f"Str {j + 1}" if size > 1 else None,
                "stock": {"Lager": lager, "Butik": butik},
            })
        with sh.lock:
            sh.create_product(
                "dk", title=f"Vare {product}", variants=specs, status="ACTIVE",
                description_html=f"<p>Vare {product} <strong>fra Shopify</strong></p>",
                options=["Størrelse"] if size > 1 else None)
        for j, spec in enumerate(specs):
            n = i + j
            if spec["sku"] and n % 7 == 0 and spec["sku"] == sku_of(n):
                number = spec["sku"].lower() if n % 53 == 0 else spec["sku"]
                stock: dict[int, int] | None = None
                if n % 14 == 0:
                    stock = {1: 3 + n % 5}
                elif n % 21 == 0:
                    stock = {2: 4}
                with rb.lock:
                    if n % 700 == 350:
                        rb.add_lot(number, f"Sæt {n}", 200.0, 1000, {"FRAGT": 1})
                    elif n % 700 == 49:
                        rb.add_product(number, f"Rackbeat {n}", 80.0, 9000)  # no inventory
                    else:
                        rb.add_product(number, f"Rackbeat {n}", 80.0, 1000, stock=stock)
                stats["in_rackbeat"] += 1
        stats["variants"] += size
        i += size
        product += 1
    return stats


def write_init_config(sandbox: Sandbox, path: Path, *,
                      http: Mapping[str, Any] | None = None,
                      rackbeat_timeout: int | None = None,
                      lost_wait: float | None = None,
                      shop: Mapping[str, Any] | None = None,
                      scaled_client: bool = False) -> Path:
    """A config for shop ``dk`` of the init world (secrets in files next to it).

    ``scaled_client``: the runner will run on the twins' scaled clock (``--scale``), so the
    client's Rackbeat limit is the real 480 per (scaled) minute.
    """
    path = sandbox.write_config(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    dk = next(s for s in data["shops"] if s["name"] == "dk")
    for key in ("orders", "stock"):
        dk.pop(key, None)
    dk["prices_include_tax"] = True
    dk["products"] = {"master": "shopify", "default_group": 1000}
    dk["initial"] = {"location_map": {"Lager": 1, "Butik": 2}}
    dk.update(shop or {})
    data["shops"] = [dk]
    if http:
        data["http"] = dict(http)
    if rackbeat_timeout:
        data["rackbeat"]["timeout_seconds"] = rackbeat_timeout
    if lost_wait is not None:
        data["rackbeat"]["lost_answer_wait_seconds"] = lost_wait
    if scaled_client:
        data["rackbeat"]["requests_per_minute"] = 480
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def rackbeat_state(sandbox: Sandbox) -> dict[str, Any]:
    """What an init-sync leaves in Rackbeat, comparable between two twins: items with their
    fields, stock per (number, location), booked adjustments per (number, location), drafts."""
    snap = sandbox.rackbeat_app.snapshot()
    items = {}
    stock = {}
    for item in snap["products"] + snap["lots"]:
        physical = item.get("physical") or {}
        items[item["number"]] = (item["type"], item["name"], Decimal(str(item["sales_price"])),
                                 item["group_id"], item.get("description") or "",
                                 physical.get("weight"), physical.get("weight_unit"))
        for loc in item["locations"]:
            if loc["stock_quantity"]:
                stock[(item["number"], loc["number"])] = Decimal(str(loc["stock_quantity"]))
    booked: dict[tuple[str, int], int] = {}
    drafts = 0
    for adj in snap["inventory_adjustments"]:
        if adj["is_booked"]:
            k = (adj["item_id"], adj["location"])
            booked[k] = booked.get(k, 0) + 1
        else:
            drafts += 1
    return {"items": items, "stock": stock, "booked": booked, "drafts": drafts}


def main(argv: list[str]) -> int:
    """Preview and apply an init-sync of one shop (as ``init-sync --yes``).

    ``CONFIG SHOP [REPORT] [--scale S] [--memory]``: with ``--scale`` the client runs on the
    twins' scaled clock (its limiter and backoff in twin seconds), as the benchmark needs; with
    ``--memory`` it prints its peak memory on stderr at the end (see :func:`peak_memory_kb`).
    """
    import time

    from rackshop.config import load_config
    from rackshop.errors import RackshopError
    from rackshop.runtime import Runtime
    from rackshop.sync.initial import apply_init_sync, preview_init_sync

    memory = "--memory" in argv
    argv = [a for a in argv if a != "--memory"]
    scale = 1.0
    if "--scale" in argv:
        i = argv.index("--scale")
        scale = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    config = load_config(Path(argv[0]))
    if scale != 1.0:
        runtime = Runtime(config, clock=lambda: time.monotonic() * scale,
                          sleep=lambda s: time.sleep(s / scale))
    else:
        runtime = Runtime(config)
    shop = config.select([argv[1]])[0]
    report = Path(argv[2]) if len(argv) > 2 else None
    try:
        with preview_init_sync(runtime, shop) as preview:
            result = apply_init_sync(runtime, shop, preview, report_path=report)
        return int(result.exit_code)
    except RackshopError as exc:
        print(exc, file=sys.stderr)
        return int(exc.exit_code)
    finally:
        runtime.close()
        if memory:
            print(f"peak memory: {peak_memory_kb()} kB", file=sys.stderr)


def peak_memory_kb() -> int:
    """This process's peak resident memory in kB.

    ``VmHWM`` (Linux) belongs to the program: it starts afresh at ``exec``. ``ru_maxrss`` (and so
    ``RUSAGE_CHILDREN`` in the parent) also counts the parent's pages the child held between
    ``fork`` and ``exec``, which with the twins running in the parent says more about the twins
    than about rackshop; it is the fallback elsewhere.
    """
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
