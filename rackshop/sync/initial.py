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

import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from rackshop.config import ShopConfig
from rackshop.errors import (
    ExitCode,
    StateError,
    UsageError,
)
from rackshop.runtime import Runtime
from rackshop.sync.initial_apply import Apply
from rackshop.sync.initial_preview import (
    InitPreview,
)
from rackshop.sync.initial_read import Reader
from rackshop.sync.initial_store import (
    open_journal,
)
from rackshop.sync.product_values import sku_key
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop

JOB = "init-sync"


class InitSyncDoneError(UsageError):
    """The shop completed an init-sync already; a second one needs ``--again``.

    A :class:`~rackshop.errors.UsageError` (the command line asks for something that cannot be
    done as it stands), with the safety-stop exit code: it is a guard against importing stock
    twice, overridden by a flag (``--again``) as the stock circuit breaker is by ``--force``, and
    a script can tell it from a mistyped command line (exit 2).
    """

    exit_code = ExitCode.SAFETY_STOP


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
    reader = Reader(runtime, shop, journal, generation, progress)
    try:
        return reader.preview(skip_inventory=skip_inventory, overwrite_stock=overwrite_stock,
                              again=again, resumed=resumed,
                              stock_for=frozenset(sku_key(s) for s in stock_for if sku_key(s)))
    except BaseException:
        reader.spool.close()
        raise


def preview_job_result(preview: InitPreview) -> JobResult:
    """A dry run's outcome as a :class:`JobResult` (counters of the preview, exit code OK), so
    the CLI can print it like every job's summary (and as JSON with ``--log-format json``)."""
    shop = ShopResult(preview.shop, counts=dict(preview.counts))
    shop.details.update({"generation": preview.generation, "resumed": preview.resumed,
                         "warnings": list(preview.warnings)})
    return JobResult(JOB, dry_run=True, shops=[shop])


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
        Apply(runtime, shop_cfg, preview, result, progress, report_path).run()

    return run_per_shop(runtime, JOB, [shop], body)


__all__ = [
    "JOB",
    "InitSyncDoneError",
    "apply_init_sync",
    "default_report_path",
    "preflight",
    "preview_init_sync",
    "preview_job_result",
]
