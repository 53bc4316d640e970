"""`rackshop init-sync`: the go-live import of one shop, previewed, confirmed, applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rackshop import console
from rackshop.cli.common import (
    Common,
    LogFormat,
    bars_enabled,
    common_options,
    confirm_or_abort,
    load,
    run,
)
from rackshop.cli.jobs import print_result
from rackshop.errors import ExitCode

InitShopOpt = Annotated[
    list[str] | None,
    typer.Option("--shop", "-s", metavar="NAME",
                 help="The shop to import (required: init-sync imports one shop at a time).",
                 show_default=False),
]


@common_options(shop=InitShopOpt, dry_run=True)
def init_sync_cmd(
    common: Common,
    skip_inventory: Annotated[bool, typer.Option("--skip-inventory", help="Create products "
                                                 "only; register no stock.")] = False,
    overwrite_stock: Annotated[bool, typer.Option("--overwrite-stock", help="Register stock "
                                                  "even where Rackbeat already has some.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking (required "
                                      "without a terminal).")] = False,
    again: Annotated[bool, typer.Option("--again", help="Allow a second init-sync of a shop "
                                        "that completed one.")] = False,
    stock_for: Annotated[list[str] | None, typer.Option(
        "--stock-for", metavar="SKU", help="When another shop is live already, import this "
        "SKU's stock too (repeatable); otherwise such a go-live imports products and links, "
        "not stock.", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", metavar="PATH", help="Where to write the CSV report of what was created, "
        "linked and skipped (default: init-sync-<shop>-<time>.csv in the state store's "
        "folder).", show_default=False)] = None,
) -> None:
    """Go-live import: bring a shop's products and stock into Rackbeat, once.

    Previews everything first (products to create, SKUs already in Rackbeat, variants without
    SKU, duplicate SKUs, stock per location) and warns that Rackbeat cannot delete a product
    once stock is registered for it. Asks before writing on a terminal; needs --yes without one.
    Resumable: a rerun after a crash finishes the job without counting anything twice.
    """
    options = {"skip_inventory": skip_inventory, "overwrite_stock": overwrite_stock,
               "again": again, "stock_for": tuple(stock_for or ())}

    def body(c: Common) -> ExitCode:
        from rackshop.errors import UsageError
        from rackshop.runtime import Runtime
        from rackshop.sync.initial import default_report_path

        cfg = load(c)
        shops = cfg.select(c.shops)
        if len(c.shops) != 1:
            raise UsageError("init-sync imports one shop at a time: name it with --shop",
                             hint="known shops: " + ", ".join(s.name for s in cfg.shops))
        target = shops[0]
        runtime = Runtime(cfg)
        out, _ = console.make_consoles()
        path = report or default_report_path(target.name, folder=runtime.state_path.parent)
        try:
            result = _preview_then_apply(c, runtime, target, path, yes=yes, options=options)
        finally:
            runtime.close()
        print_result(out, result, json_mode=c.log_format == LogFormat.json)
        return ExitCode(result.exit_code)

    run(common, body)


def _preview_then_apply(c: Common, runtime: Any, target: Any, path: Path, *, yes: bool,
                        options: dict[str, Any]) -> Any:
    """Read and show the preview; with a dry run stop there, else confirm and import."""
    from rackshop.sync.initial import (
        apply_init_sync,
        preflight,
        preview_init_sync,
        preview_job_result,
    )
    from rackshop.sync.initial_preview import PREVIEW_COLUMNS

    out, err = console.make_consoles()
    json_mode = c.log_format == LogFormat.json
    if not c.dry_run:
        preflight(runtime, path)  # refuse before the long read, not after the import
    with console.progress_bars(err, enabled=bars_enabled(c, err)) as bars:
        preview = preview_init_sync(runtime, target, progress=bars, **options)
    with preview:
        if not json_mode:
            console.print_table(out, f"init-sync preview: shop {target.name}",
                                ["", ""], preview.summary())
            console.print_table(out, "first rows (all of them go to the report file)",
                                list(PREVIEW_COLUMNS), preview.rows(limit=20))
            for warning in preview.warnings:
                console.print_line(out, "warning: " + warning, "yellow")
        if c.dry_run:
            return preview_job_result(preview)
        confirm_or_abort(err, yes, "Import this into Rackbeat? It cannot be undone.",
                         refused="init-sync writes to Rackbeat for good; nothing was done",
                         hint="read the preview (--dry-run) and run again with --yes",
                         declined="declined; nothing was done")
        with console.progress_bars(err, enabled=bars_enabled(c, err)) as bars:
            result = apply_init_sync(runtime, target, preview, progress=bars, report_path=path)
        if not json_mode:
            console.print_line(out, f"report written to {path}")
        return result
