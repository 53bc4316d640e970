"""`rackshop check` (config and both APIs) and `check --contract` (every assumption the enabled
jobs make about the live APIs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from rackshop import console
from rackshop.cli.common import (
    Common,
    FormatOpt,
    OutputFormat,
    common_options,
    confirm_or_abort,
    load,
    run,
)
from rackshop.errors import ExitCode


@common_options()
def check_cmd(
    common: Common,
    offline: Annotated[bool, typer.Option("--offline", help="Only validate the config; call "
                                          "no API.")] = False,
    contract: Annotated[bool, typer.Option("--contract", help="Probe both accounts for every "
                                           "assumption the enabled jobs make about the live "
                                           "APIs (reads only), record what was seen for the "
                                           "jobs, and exit 12 when a job cannot run.")] = False,
    write_probes: Annotated[bool, typer.Option(
        "--write-probes", help="With --contract: also create and delete one scratch draft "
        "order (shown and confirmed first) to learn how line_price, discounts and rounding "
        "behave.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --write-probes: do not ask "
                                      "(required without a terminal).")] = False,
    output: FormatOpt = None,
) -> None:
    """Validate the config and prove the credentials and locations against both APIs.

    Makes a handful of read calls (never writes) and prints a table of what it found: the
    Rackbeat account and locations, each shop and its locations, and whether every location and
    item the config names exists. Exit code 0 when all is well.

    With --contract it proves instead every assumption about the live APIs (docs/contract.md).
    """
    def body(c: Common) -> ExitCode:
        from rackshop.check import run_check
        from rackshop.runtime import Runtime

        cfg = load(c)
        runtime = Runtime(cfg)
        if contract or write_probes:
            return _check_contract(runtime, cfg.select(c.shops), write_probes=write_probes,
                                   yes=yes, as_json=output == OutputFormat.json)
        report = run_check(runtime, cfg.select(c.shops), offline=offline)
        out, _ = console.make_consoles()
        console.print_table(
            out, "rackshop check", ["target", "check", "status", "detail"],
            [(r.target, r.what, r.status, r.detail) for r in report.rows],
        )
        return report.exit_code

    run(common, body)


def _check_contract(runtime: Any, shops: Sequence[Any], *, write_probes: bool, yes: bool,
                    as_json: bool) -> ExitCode:
    """``check --contract`` (issue 16): probe, optionally write-probe, record, print."""
    import json

    from rackshop.contract.recorded import record
    from rackshop.contract.run import run_contract
    from rackshop.contract.write_probes import run_write_probes, write_probe_plan

    out, err = console.make_consoles()
    try:
        report = run_contract(runtime, shops)
        if write_probes:
            plan = write_probe_plan(runtime)
            console.print_line(err, plan)
            confirm_or_abort(err, yes, "Create and delete this scratch order?",
                             refused="--write-probes writes to Rackbeat: confirm with --yes",
                             hint="read what it does above and run again with --yes",
                             declined="declined; nothing was written")
            run_write_probes(runtime, runtime.store(), report)
        record(runtime.store(), report)
    finally:
        runtime.close()
    if as_json:
        out.file.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        console.print_table(out, "rackshop check --contract",
                            ["api", "assumption", "expected", "observed", "verdict"],
                            [(p.api, p.assumption, p.expected, p.observed, p.verdict)
                             for p in report.probes])
        blocked = report.blocked
        console.print_line(out, f"{report.calls} calls; " + (
            "every enabled job can run" if not blocked else
            f"cannot run: {', '.join(blocked)} (exit {int(ExitCode.CONTRACT)})"))
    return report.exit_code
