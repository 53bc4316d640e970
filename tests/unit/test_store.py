"""The state store: migrations, file mode, runs, cursors, failures, hashes, locks."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rackshop.errors import LockHeldError, StateError
from rackshop.store import SCHEMA_VERSION, JobLock, Store


def test_new_store_is_private_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.sqlite3"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # reopening migrates nothing and keeps the data
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_store_from_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StateError, match="newer rackshop"):
        Store(path)


def test_garbage_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot open the state store"):
        Store(path)


def test_runs_cursors_failures_hashes(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        run = store.start_run("sync-orders", "dk")
        store.finish_run(run, "partial", {"transferred": 3, "failed": 1})
        runs = store.last_runs()
        assert runs[0].outcome == "partial" and runs[0].summary["transferred"] == 3

        assert store.get_cursor("dk", "sync-orders") is None
        store.set_cursor("dk", "sync-orders", "2026-11-27T10:00:00Z")
        store.set_cursor("dk", "sync-orders", "2026-11-27T11:00:00Z")
        assert store.get_cursor("dk", "sync-orders") == "2026-11-27T11:00:00Z"

        store.record_failure("sync-orders", "dk", "#1001", "unknown SKU X")
        store.record_failure("sync-orders", "dk", "#1001", "unknown SKU X")
        assert store.failures()[0]["count"] == 2
        store.clear_failure("sync-orders", "dk", "#1001")
        assert store.failures() == []

        store.set_hash("products", "dk", "SKU-1", "abc")
        assert store.get_hash("products", "dk", "SKU-1") == "abc"


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        with pytest.raises(RuntimeError), store.transaction() as c:
            c.execute("INSERT INTO cursors VALUES ('dk', 'j', 'n', 'v', 't')")
            raise RuntimeError("boom")
        assert store.count("cursors") == 0


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    first = JobLock(db, "sync-orders", "dk").acquire()
    try:
        with pytest.raises(LockHeldError) as info:
            JobLock(db, "sync-orders", "dk").acquire()
        assert info.value.pid == os.getpid()
        assert str(os.getpid()) in str(info.value)
        # another shop or job is independent
        JobLock(db, "sync-orders", "se").acquire().release()
        JobLock(db, "sync-stock", "dk").acquire().release()
        assert [h["lock"] for h in JobLock.holders(db)] == ["sync-orders:dk"]
    finally:
        first.release()
    JobLock(db, "sync-orders", "dk").acquire().release()


def test_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    code = textwrap.dedent(f"""
        import sys, time
        from rackshop.store import JobLock
        JobLock({str(db)!r}, "sync-stock", "dk").acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeldError) as info:
            JobLock(db, "sync-stock", "dk").acquire()
        assert info.value.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    deadline = time.monotonic() + 10
    while True:  # the kernel releases the flock when the process is gone
        try:
            JobLock(db, "sync-stock", "dk").acquire().release()
            break
        except LockHeldError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_thread_with_its_own_connection_never_sees_another_threads_open_step(
        tmp_path: Path) -> None:
    import threading

    with Store(tmp_path / "s.sqlite3") as store:
        inside = threading.Event()
        read_done = threading.Event()
        seen: list[str | None] = []

        def reader() -> None:
            with store.thread_connection():
                inside.wait(5)
                seen.append(store.get_cursor("dk", "sync-orders"))
            read_done.set()

        worker = threading.Thread(target=reader)
        worker.start()
        with store.transaction() as c:
            c.execute("INSERT INTO cursors (shop, job, name, value, updated_at) "
                      "VALUES ('dk', 'sync-orders', 'updated_at', 'x', 'now')")
            inside.set()
            assert read_done.wait(5)
        worker.join()
        assert seen == [None]  # the step was not committed when the worker read
        assert store.get_cursor("dk", "sync-orders") == "x"
        # outside the block the thread's connection is closed and the store's is used again
        assert store.conn is not None


def test_a_journal_step_is_one_statement_that_merges_detail_as_dict_update(
        tmp_path: Path) -> None:
    """Issue 14: a step was BEGIN, SELECT, (INSERT,) UPDATE, COMMIT; five steps an order, each
    statement handing Python's lock to another worker. Now one upsert; the meaning is kept."""
    from decimal import Decimal

    with Store(tmp_path / "s.sqlite3") as store:
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        store.journal_put("dk", "o1", order_name="#1",
                          detail={"lines": {"A": 1}, "after": {"pending": True, "x": 1}})
        for _ in range(2):  # the same step twice
            store.journal_put("dk", "o1", state="creating", attempts_inc=True, detail={
                "after": {"pending": False}, "total": Decimal("1.50"), "refused": None})
        store.journal_put("dk", "o1", steps_done="book")
        store.journal_put("dk", "o2", attempts_inc=True)
        store.conn.set_trace_callback(None)
        assert len(statements) == 5
        row = store.journal_get("dk", "o1")
        assert row is not None
        assert row["detail"] == {"lines": {"A": 1}, "after": {"pending": False},
                                 "total": "1.50", "refused": None}
        assert (row["order_name"], row["state"], row["attempts"], row["steps_done"]) == \
            ("#1", "creating", 2, "book")
        fresh = store.journal_get("dk", "o2")
        assert fresh is not None
        assert (fresh["state"], fresh["attempts"], fresh["detail"]) == ("new", 1, {})
        with pytest.raises(ValueError, match="not a plain name"):
            store.journal_put("dk", "o1", detail={"a.b": 1})
        with pytest.raises(ValueError, match="unknown journal fields"):
            store.journal_put("dk", "o1", shop_name="se")


def test_rows_journalled_before_issue_14_are_still_read_and_found_by_their_detail(
        tmp_path: Path) -> None:
    """Older versions stored detail as Python's json.dumps text (``"pending": true``); the
    queries that pick rows by their detail matched that text and missed SQLite's."""
    import json
    from typing import Any

    from rackshop.sync.after_transfer import pending_order_ids
    from rackshop.sync.stock_inflight import _journal_in_flight

    def old_text(store: Store, oid: str, detail: dict[str, Any]) -> None:
        store.conn.execute("UPDATE order_journal SET detail = ? WHERE shopify_order_id = ?",
                           (json.dumps(detail, sort_keys=True), oid))

    with Store(tmp_path / "s.sqlite3") as store:
        for oid in ("old", "new", "not", "bad"):
            store.journal_put("dk", oid, state="done", rackbeat_number=7, detail={
                "after": {"pending": oid in ("old", "new")}, "lines": {"A": 1}})
        old_text(store, "old", {"after": {"pending": True}, "lines": {"A": 1}})
        store.conn.execute("UPDATE order_journal SET detail = '' WHERE shopify_order_id = 'bad'")
        assert sorted(pending_order_ids(store, "dk")) == ["new", "old"]
        store.journal_put("dk", "old", detail={"x": 1})  # a later step keeps the old keys
        row = store.journal_get("dk", "old")
        assert row is not None
        assert row["detail"] == {"after": {"pending": True}, "lines": {"A": 1}, "x": 1}

        # drafts journalled as booked in Rackbeat, in either text, are not read again
        store.journal_put("dk", "new", detail={"booked": True})
        old_text(store, "old", {"booked": True, "lines": {"A": 1}})
        read: list[int] = []

        class Rackbeat:
            def find_one(self, kind: str, number: int) -> dict[str, Any]:
                read.append(number)
                return {"is_booked": False}

        class Runtime:
            def rackbeat(self) -> Rackbeat:
                return Rackbeat()

        out, _ = _journal_in_flight(Runtime(), store, {}, dry_run=True)  # type: ignore[arg-type]
        assert sorted(oid for _, oid in out) == ["bad", "not"]  # one read each
        assert len(read) == 2


def test_a_worker_connection_that_cannot_open_is_a_state_error_naming_the_store(
        tmp_path: Path) -> None:
    """A pool worker's own connection fails as the store's first one does: exit 10 (STATE)
    with the path and a hint, not a bare SQLite error."""
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        def refuse() -> sqlite3.Connection:
            raise sqlite3.OperationalError("unable to open database file")

        store._connect = refuse  # type: ignore[method-assign]
        with pytest.raises(StateError, match=f"cannot open the state store {path}") as caught:
            store.own_connection()
        assert caught.value.hint and "state.path" in caught.value.hint
