"""Records side by side: a bounded pool of workers for one shop's pass (issue 14).

Every job is bound by the two APIs' rate limits, and one request at a time leaves most of the
allowance unused while each answer travels. ``[http] workers`` threads share the pass's clients,
so they share each token's limiter (Rackbeat's request window, the shop's cost bucket) and
together stay under the allowance.

What stays exactly as with one worker:

* **the steps of one record** run in order in one worker; records with the same *key* (for
  sync-orders the customer's e-mail) run one after the other in one worker, in the pass's order,
  so two orders of a new customer never race to create it;
* **the store**: each worker thread has its own connection (:meth:`~rackshop.store.Store.
  own_connection`, opened once per thread, not per record or key), so every journalled step is
  one whole transaction;
* **the report**: what a record adds to the result (counters, failures, outcomes) is kept apart
  per record (:class:`PassScopes`) and added to the pass's result in the pass's order once every
  worker is done, so the report reads as a one-worker pass's would;
* **the cursor**: :func:`run_side_by_side` returns only when every record has been worked on, and
  the caller saves the cursor after it, as before;
* **a failure that ends the pass** (the API down, credentials refused): no worker starts another
  record, those under way finish theirs, and the error of the earliest record in the pass's order
  is raised, after the results of every record worked on are added.

With one worker the records are worked on in the calling thread, one after the other, with no
buffering: today's serial pass.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rackshop.store import Store
from rackshop.sync.runner import ShopResult

T = TypeVar("T")
O = TypeVar("O")  # noqa: E741 - an outcome type


@dataclass
class RecordScope(Generic[O]):
    """What one record added to the pass's result, kept for the merge."""

    result: ShopResult
    outcomes: list[O] = field(default_factory=list)


class PassScopes(Generic[O]):
    """Where a pass's counters, failures and outcomes go: to the pass's own result, or, inside
    :meth:`record` (a worker's record), to that record's :class:`RecordScope`.

    Args:
        result: The pass's result.
        outcomes: The pass's list of per-record outcomes.
    """

    def __init__(self, result: ShopResult, outcomes: list[O]) -> None:
        self.pass_result = result
        self.pass_outcomes = outcomes
        self._local = threading.local()

    def _current(self) -> RecordScope[O] | None:
        scope: RecordScope[O] | None = getattr(self._local, "scope", None)
        return scope

    @property
    def result(self) -> ShopResult:
        """The result the calling thread's record adds to."""
        scope = self._current()
        return scope.result if scope is not None else self.pass_result

    @property
    def outcomes(self) -> list[O]:
        """The outcomes list the calling thread's record appends to."""
        scope = self._current()
        return scope.outcomes if scope is not None else self.pass_outcomes

    @contextlib.contextmanager
    def record(self) -> Iterator[RecordScope[O]]:
        """Keep what the calling thread adds apart until :meth:`merge`."""
        scope: RecordScope[O] = RecordScope(ShopResult(self.pass_result.shop))
        self._local.scope = scope
        try:
            yield scope
        finally:
            del self._local.scope

    def merge(self, scope: RecordScope[O]) -> None:
        """Add one record's counters, failures and outcomes to the pass's, as a one-worker pass
        would have added them at that point (counters in the order they were first met)."""
        target = self.pass_result
        for name, n in scope.result.counts.items():
            target.bump(name, n)
        target.failures.extend(scope.result.failures)
        if scope.result.outcome != "ok" and target.outcome == "ok":
            target.outcome = scope.result.outcome
        target.details.update(scope.result.details)
        self.pass_outcomes.extend(scope.outcomes)


def run_side_by_side(items: Sequence[T], work: Callable[[T], None], *, workers: int,
                     key: Callable[[T], Hashable], scopes: PassScopes[O],
                     store: Store | None, done: Callable[[], None] = lambda: None) -> None:
    """Call ``work`` for every item, ``workers`` at a time; see the module docstring.

    Args:
        items: The records, in the pass's order.
        work: Does everything for one record (in a worker thread when ``workers`` > 1).
        workers: How many records at a time (``[http] workers``); 1 works in this thread.
        key: Records with equal keys are worked on one after the other, in order.
        scopes: Where ``work`` reports; each record's report is merged in ``items`` order.
        store: The state store, if the pass writes one (each worker gets a connection).
        done: Called in this thread once per record worked on (progress bars).

    Raises:
        BaseException: The error of the earliest record whose ``work`` raised.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            work(item)
            done()
        return
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    scoped: dict[int, RecordScope[O]] = {}
    errors: dict[int, BaseException] = {}
    stop = threading.Event()

    connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
    opened = threading.Lock()
    refused = threading.local()

    def own_connection() -> None:
        # once per worker thread, not per group: a pass of one-order customers has as many
        # groups as orders, and opening a connection costs more than journalling a step
        if store is not None:
            try:
                connection = store.own_connection()
            except Exception as exc:  # raised by this thread's first record, as itself: an
                refused.error = exc   # initializer's error only breaks the pool
                return
            with opened:
                connections.append((threading.current_thread(), connection))

    def run_group(indices: list[int]) -> int:
        refusal: Exception | None = getattr(refused, "error", None)
        if refusal is not None:  # the store's error, as the group's first record's
            errors[indices[0]] = refusal
            stop.set()
            return 0
        worked = 0
        for index in indices:
            if stop.is_set():
                break
            with scopes.record() as scope:
                scoped[index] = scope
                worked += 1
                try:
                    work(items[index])
                except BaseException as exc:  # raised again in the calling thread
                    errors[index] = exc
                    stop.set()
                    break
        return worked

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rackshop-worker",
                                initializer=own_connection) as pool:
            pending: list[Future[int]] = [pool.submit(run_group, g) for g in groups.values()]
            try:
                # as_completed puts one waiter on each record's future; a wait() for the first
                # finished per round put one on every pending future each round: quadratic in
                # the keys of a pass (init-sync has one per product), issue 14
                for future in as_completed(pending):
                    for _ in range(future.result()):
                        done()
            except BaseException:
                stop.set()  # Ctrl-C: the records under way finish, no other starts
                raise
    finally:
        # Closed only under a thread that has ended: a second Ctrl-C interrupts the wait for
        # the workers, which still journal the records under way on their connections.
        for thread, connection in connections:
            if not thread.is_alive():
                connection.close()
    for index in sorted(scoped):
        scopes.merge(scoped[index])
    if errors:
        raise errors[min(errors)]
