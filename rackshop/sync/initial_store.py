"""What ``init-sync`` keeps in the state store: its journal, over the ``init_journal`` table.

Rows are ``(shop, kind, key) -> state, detail (JSON)``. Every init-sync of a shop is one
*generation* (1, 2, ... — a new one only with ``--again``); keys carry it, so a second init-sync
never mistakes the first one's work for its own:

==============  =====================  ========================================================
kind            key                    states
==============  =====================  ========================================================
``run``         ``<gen>``              ``applying`` (started, not finished: a rerun resumes it)
                                       -> ``done`` (completed: a new one needs ``--again``)
``product``     ``<gen>/<sku key>``    ``creating`` (intent, committed before the create call)
                                       -> ``created``; ``failed`` (refused: nothing created)
``adjustment``  ``<gen>/<sku key>@<n>``  ``creating`` (intent) -> ``created`` (a draft, id in
                                       detail) -> ``booked``; ``superseded`` (Rackbeat's stock
                                       changed meanwhile: not registered); ``failed``
==============  =====================  ========================================================

Each recorded step is one transaction (:meth:`InitJournal.put`). Reading never writes: a dry run
or a preview opens the store only if it exists already (:func:`open_journal`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rackshop.runtime import Runtime
from rackshop.store import Store, utcnow

RUN = "run"
PRODUCT = "product"
ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class RunState:
    """The latest init-sync generation of a shop.

    Attributes:
        generation: Its number (1 for the first init-sync).
        state: ``applying`` or ``done``.
        detail: What was recorded with it (start and end time, flags, summary, report path).
    """

    generation: int
    state: str
    detail: dict[str, Any]

    @property
    def completed(self) -> bool:
        return self.state == "done"


def product_key(generation: int, key: str) -> str:
    """Journal key of a product."""
    return f"{generation}/{key}"


def adjustment_key(generation: int, key: str, location: int) -> str:
    """Journal key of one (SKU, Rackbeat location) adjustment."""
    return f"{generation}/{key}@{location}"


class InitJournal:
    """A shop's init-sync journal.

    Args:
        store: The state store, or ``None`` when there is none yet (nothing journalled).
        shop: The shop's name.
    """

    def __init__(self, store: Store | None, shop: str) -> None:
        self.store = store
        self.shop = shop

    # -- reading ---------------------------------------------------------------------------

    def latest(self) -> RunState | None:
        """The shop's newest generation, or ``None`` when it never ran an init-sync."""
        if self.store is None:
            return None
        best: RunState | None = None
        for row in self.store.conn.execute(
                "SELECT key, state, detail FROM init_journal WHERE shop = ? AND kind = ?",
                (self.shop, RUN)):
            gen = int(row["key"])
            if best is None or gen > best.generation:
                best = RunState(gen, str(row["state"]), json.loads(row["detail"] or "{}"))
        return best

    def rows(self, generation: int, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(key without the generation, state, detail)`` of one kind in one generation."""
        if self.store is None:
            return
        prefix = f"{generation}/"
        cur = self.store.conn.execute(
            "SELECT key, state, detail FROM init_journal WHERE shop = ? AND kind = ? "
            "AND substr(key, 1, ?) = ? ORDER BY key",
            (self.shop, kind, len(prefix), prefix))
        for row in cur:
            yield (str(row["key"])[len(prefix):], str(row["state"]),
                   json.loads(row["detail"] or "{}"))

    def get(self, kind: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """``(state, detail)`` of one row, or ``None``."""
        if self.store is None:
            return None
        row = self.store.conn.execute(
            "SELECT state, detail FROM init_journal WHERE shop = ? AND kind = ? AND key = ?",
            (self.shop, kind, key)).fetchone()
        return (str(row["state"]), json.loads(row["detail"] or "{}")) if row else None

    # -- writing ---------------------------------------------------------------------------

    def put(self, kind: str, key: str, state: str,
            detail: Mapping[str, Any] | None = None) -> None:
        """Record one step (one transaction); ``detail`` is merged into what is stored."""
        if self.store is None:
            raise RuntimeError("init-sync journal opened without a store (read only)")
        now = utcnow()
        with self.store.transaction() as c:
            row = c.execute(
                "SELECT detail FROM init_journal WHERE shop = ? AND kind = ? AND key = ?",
                (self.shop, kind, key)).fetchone()
            merged: dict[str, Any] = json.loads(row["detail"] or "{}") if row else {}
            merged.update(detail or {})
            c.execute(
                "INSERT INTO init_journal (shop, kind, key, state, detail, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shop, kind, key) DO UPDATE SET "
                "state = excluded.state, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                (self.shop, kind, key, state, json.dumps(merged, sort_keys=True, default=str),
                 now))


def open_journal(runtime: Runtime, shop: str, *, write: bool) -> InitJournal:
    """The shop's journal: for writing (creates the store), or for reading only (the store is
    opened only if it exists, so a preview or dry run never creates one)."""
    return InitJournal(runtime.open_store(create=write), shop)


__all__ = [
    "ADJUSTMENT",
    "PRODUCT",
    "RUN",
    "InitJournal",
    "RunState",
    "adjustment_key",
    "open_journal",
    "product_key",
]
