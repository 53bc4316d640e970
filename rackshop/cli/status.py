"""`rackshop status`: last runs, running jobs, orders held back, failures and cursors.
"""

from __future__ import annotations

from rackshop import console
from rackshop.cli.common import Common, LogFormat, common_options, load, run
from rackshop.errors import ExitCode


@common_options()
def status_cmd(common: Common) -> None:
    """Show the last runs, open failures, cursors and running jobs from the state store.

    Reads only the local state store; calls no API.
    """
    def body(c: Common) -> ExitCode:
        from rackshop.runtime import Runtime
        from rackshop.status import collect_status

        cfg = load(c)
        runtime = Runtime(cfg)
        names = {s.name for s in cfg.select(c.shops)}
        status = collect_status(runtime, names)
        out, _ = console.make_consoles()
        if c.log_format == LogFormat.json:
            import json

            out.file.write(json.dumps(status, default=str) + "\n")
            return ExitCode.OK
        console.print_line(out, f"state store: {status['state_path']}")
        console.print_table(
            out, "last runs", ["job", "shop", "started", "finished", "outcome", "summary"],
            [(r["job"], r["shop"], r["started_at"], r["finished_at"], r["outcome"],
              r["summary_text"]) for r in status["runs"]] or [("-", "", "", "", "never run", "")],
        )
        if status["running"]:
            console.print_table(out, "running now", ["lock", "pid", "host", "since"],
                                [(h["lock"], h["pid"], h["host"], h["since"])
                                 for h in status["running"]])
        orders = status["orders"]
        console.print_line(out, f"orders needing attention: {orders['attention']}"
                           + (" (see `rackshop orders list`)" if orders["attention"] else ""))
        if orders["counts"]:
            console.print_table(out, "order journal", ["shop", "state", "orders"],
                                [(r["shop"], r["state"], r["orders"]) for r in orders["counts"]])
        if orders["held"]:
            console.print_table(
                out, "orders held back (failed, unfinished, waiting, skipped)",
                ["shop", "order", "state", "rackbeat", "reason", "since"],
                [(r["shop"], r["order_name"], r["state"], r["rackbeat_number"], r["reason"],
                  r["updated_at"]) for r in orders["held"]])
        if status["failures"]:
            console.print_table(
                out, "open failures", ["job", "shop", "record", "reason", "count", "last seen"],
                [(f["job"], f["shop"], f["key"], f["reason"], f["count"], f["last_seen"])
                 for f in status["failures"]],
            )
        if status["cursors"]:
            console.print_table(out, "cursors", ["shop", "job", "name", "value", "saved"],
                                [(k["shop"], k["job"], k["name"], k["value"], k["updated_at"])
                                 for k in status["cursors"]])
        return ExitCode.OK

    run(common, body)
