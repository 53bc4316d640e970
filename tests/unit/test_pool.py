"""The pool of workers of a pass (rackshop.sync.pool): order per key, the merged report, errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from rackshop.store import Store
from rackshop.sync.pool import PassScopes, run_side_by_side
from rackshop.sync.runner import ShopResult


def _scopes() -> tuple[ShopResult, list[int], PassScopes[int]]:
    result = ShopResult("dk")
    outcomes: list[int] = []
    return result, outcomes, PassScopes(result, outcomes)


def test_records_of_one_key_run_in_order_and_the_report_merges_in_the_pass_order() -> None:
    result, outcomes, scopes = _scopes()
    by_key: dict[int, list[int]] = {}
    threads: set[int] = set()
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            by_key.setdefault(i % 3, []).append(i)
            threads.add(threading.get_ident())
        scopes.result.bump(f"k{9 - i}")
        if i % 4 == 0:
            scopes.result.fail(f"#{i}", "refused")
        scopes.outcomes.append(i)

    done: list[None] = []
    run_side_by_side(list(range(10)), work, workers=4, key=lambda i: i % 3, scopes=scopes,
                     store=None, done=lambda: done.append(None))
    assert by_key == {0: [0, 3, 6, 9], 1: [1, 4, 7], 2: [2, 5, 8]}
    assert threading.get_ident() not in threads
    assert outcomes == list(range(10))
    assert [k for k in result.counts if k != "failed"] == [f"k{9 - i}" for i in range(10)]
    assert result.failures == [("#0", "refused"), ("#4", "refused"), ("#8", "refused")]
    assert result.counts["failed"] == 3 and result.outcome == "partial"
    assert len(done) == 10


def test_one_worker_works_in_the_calling_thread_without_buffering() -> None:
    _, outcomes, scopes = _scopes()
    threads = []

    def work(i: int) -> None:
        threads.append(threading.get_ident())
        scopes.outcomes.append(i)
        assert outcomes == list(range(i + 1))  # straight into the pass's list

    run_side_by_side([0, 1, 2], work, workers=1, key=lambda i: i, scopes=scopes, store=None)
    assert threads == [threading.get_ident()] * 3


def test_an_error_stops_new_records_and_is_raised_after_the_merge() -> None:
    _, outcomes, scopes = _scopes()

    def work(i: int) -> None:
        scopes.outcomes.append(i)
        if i == 0:
            raise ConnectionError("API down")

    with pytest.raises(ConnectionError, match="API down"):
        run_side_by_side(list(range(40)), work, workers=2, key=lambda i: i % 2, scopes=scopes,
                         store=None)
    assert outcomes[0] == 0 and outcomes == sorted(outcomes)
    assert len(outcomes) < 40  # key 0's records after the failure never started


def test_each_worker_thread_opens_one_store_connection_whatever_the_number_of_keys(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    made = 0
    connect = store._connect

    def counted() -> sqlite3.Connection:
        nonlocal made
        made += 1
        return connect()

    store._connect = counted  # type: ignore[method-assign]
    _, outcomes, scopes = _scopes()
    used: dict[int, set[int]] = {}
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            used.setdefault(threading.get_ident(), set()).add(id(store.conn))
        store.journal_put("dk", str(i), state="done")
        scopes.outcomes.append(i)

    try:
        # 40 customers of one order each: 40 keys, 4 threads
        run_side_by_side(list(range(40)), work, workers=4, key=lambda i: i, scopes=scopes,
                         store=store)
        assert outcomes == list(range(40))
        assert 1 <= made <= 4  # one per worker thread, not one per key (was 40)
        assert all(len(conns) == 1 for conns in used.values())
        assert id(store._main) not in set().union(*used.values())
        assert len(store.journal_rows("dk", ("done",))) == 40
    finally:
        store.close()


def test_a_second_ctrl_c_leaves_the_workers_their_connections_to_journal_what_is_under_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C stops the pass; a second one interrupts the wait for the workers. Their records
    under way still reach the journal: before the fix the pool closed every worker's
    connection from the calling thread while they ran, and their next step failed."""
    import concurrent.futures

    from rackshop.sync import pool as pool_module

    store = Store(tmp_path / "state.db")
    started = threading.Semaphore(0)
    release = threading.Event()
    failed: list[BaseException] = []

    def work(i: int) -> None:
        store.journal_put("dk", str(i), state="creating")
        started.release()
        release.wait(10)
        try:
            store.journal_put("dk", str(i), state="created")
        except BaseException as exc:
            failed.append(exc)
            raise

    def first_ctrl_c(*args: object, **kwargs: object) -> object:
        for _ in range(4):
            assert started.acquire(timeout=10)
        raise KeyboardInterrupt

    class SecondCtrlC(concurrent.futures.ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            raise KeyboardInterrupt  # the join of the workers, interrupted

    for waiting in ("wait", "as_completed"):  # however the pool waits for its records
        if hasattr(pool_module, waiting):
            monkeypatch.setattr(pool_module, waiting, first_ctrl_c)
    monkeypatch.setattr(pool_module, "ThreadPoolExecutor", SecondCtrlC)
    _, _, scopes = _scopes()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_side_by_side(list(range(4)), work, workers=4, key=lambda i: i, scopes=scopes,
                             store=store)
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("rackshop-worker"):
                thread.join(10)
        assert failed == []
        assert len(store.journal_rows("dk", ("created",))) == 4
    finally:
        release.set()
        store.close()


class _CountingWaiters(list):  # type: ignore[type-arg]
    """A future's waiter list that counts every waiter put on it."""

    added = 0
    lock = threading.Lock()

    def append(self, waiter: object) -> None:
        with _CountingWaiters.lock:
            _CountingWaiters.added += 1
        super().append(waiter)


def test_waiting_for_the_records_costs_one_waiter_per_record_not_one_per_pending_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each wait for the next finished record used to put a waiter on every record still
    pending: quadratic in the keys of a pass (init-sync: one key per product, 10,000 of
    them; issue 14)."""
    import rackshop.sync.pool as pool

    class CountingPool(pool.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            future = super().submit(fn, *args, **kwargs)
            with future._condition:  # type: ignore[attr-defined]
                future._waiters = _CountingWaiters(future._waiters)  # type: ignore[attr-defined]
            return future

    monkeypatch.setattr(pool, "ThreadPoolExecutor", CountingPool)
    monkeypatch.setattr(_CountingWaiters, "added", 0)
    n = 60
    seen = threading.Condition()
    counted = [0]

    def work(i: int) -> None:
        # record i starts its work only once the calling thread has counted record i - 2
        # as done, so the records finish one by one while the calling thread waits
        with seen:
            assert seen.wait_for(lambda: counted[0] >= i - 1, timeout=10)

    def done() -> None:
        with seen:
            counted[0] += 1
            seen.notify_all()

    _, _, scopes = _scopes()
    run_side_by_side(list(range(n)), work, workers=2, key=lambda i: i, scopes=scopes,
                     store=None, done=done)
    assert counted[0] == n
    assert _CountingWaiters.added <= n


def test_a_worker_that_cannot_open_the_store_raises_the_stores_error_not_a_broken_pool(
        tmp_path: Path) -> None:
    """A worker's connection opens in the pool's initializer; its error only marked the pool
    broken, so the pass ended on BrokenThreadPool, not on what was wrong with the store."""
    store = Store(tmp_path / "state.db")

    def refuse() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    store.own_connection = refuse  # type: ignore[method-assign]
    _, _, scopes = _scopes()
    try:
        with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
            run_side_by_side(list(range(8)), lambda i: None, workers=4, key=lambda i: i,
                             scopes=scopes, store=store)
    finally:
        store.close()
