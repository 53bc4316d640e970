"""``rackshop status``: what the state store knows, without calling any API."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rackshop.runtime import Runtime
from rackshop.store import JobLock, Store
from rackshop.sync.orders_commands import attention_count


def summary_text(summary: dict[str, Any]) -> str:
    """A run summary as ``key=value`` pairs, the counters people look at first."""
    parts = []
    for key, value in summary.items():
        if isinstance(value, dict | list):
            continue
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def collect_status(runtime: Runtime, shops: Collection[str]) -> dict[str, Any]:
    """Collect the last runs, running jobs, open failures and cursors for ``shops``.

    A missing store is not an error: it just means nothing has run yet (and it is not created).
    """
    path = runtime.state_path
    result: dict[str, Any] = {
        "state_path": str(path), "runs": [], "running": [], "failures": [], "cursors": [],
        "orders": {"counts": [], "held": [], "attention": 0},
    }
    if not path.exists():
        return result
    store = runtime.store()
    for run in store.last_runs():
        if run.shop is not None and run.shop not in shops:
            continue
        result["runs"].append({
            "job": run.job, "shop": run.shop, "started_at": run.started_at,
            "finished_at": run.finished_at, "outcome": run.outcome + (" (dry run)" if run.dry_run
                                                                     else ""),
            "summary": run.summary, "summary_text": summary_text(run.summary),
        })
    result["orders"] = _orders(store, shops)
    # Orders a person must look at (failed, refused, held, half-done, stopped with a Rackbeat
    # order left): `rackshop orders list` names them.
    result["orders"]["attention"] = attention_count(store, shops)
    result["running"] = JobLock.holders(path)
    result["failures"] = [f for f in store.failures() if f["shop"] in shops]
    result["cursors"] = [c for c in store.cursors() if c["shop"] in shops]
    return result


#: Journal states worth showing one by one, with their reason.
HELD_STATES = ("held", "failed", "stopped", "creating", "created", "waiting", "skipped")


def _orders(store: Store, shops: Collection[str], limit: int = 50) -> dict[str, Any]:
    """Order journal counts per shop and state, and the orders held back with their reasons."""
    counts = [dict(r) for r in store.conn.execute(
        "SELECT shop, state, COUNT(*) AS orders FROM order_journal GROUP BY shop, state "
        "ORDER BY shop, state") if r["shop"] in shops]
    held = []
    for state in HELD_STATES:
        rows = store.conn.execute(
            "SELECT shop, order_name, state, rackbeat_number, reason, updated_at "
            "FROM order_journal WHERE state = ? ORDER BY updated_at DESC LIMIT ?",
            (state, limit)).fetchall()
        held += [dict(r) for r in rows if r["shop"] in shops]
    return {"counts": counts, "held": held}
