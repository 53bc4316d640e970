"""The Rackbeat side of transferring an order: the customer matched by e-mail (or created, exactly
once), an order found again by its reference, and Rackbeat's 422 on an order explained as a
refusal that waits for a change."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import OutcomeUnknownError, RecordError, ValidationError
from rackshop.rackbeat.client import RackbeatClient
from rackshop.store import Store, utcnow
from rackshop.sync.mapping import CustomerDefaultsView, OrderPlan, customer_payload
from rackshop.sync.moments import may_still_land, parse_moment, unseen_write
from rackshop.sync.runner import ShopResult

#: How far before an intent's attempt time to search for the order it may have created
#: (clock skew between this machine and Rackbeat).
SEARCH_MARGIN = timedelta(minutes=10)


def unseen_create(what: str, attempt_at: str, later: datetime) -> str:
    """Why a create whose answer was lost is not sent again yet (see ``may_still_land``)."""
    return unseen_write(what, "Rackbeat", attempt_at, later)


class Refusal(RecordError):
    """Rackbeat or the mapping refused the order for a reason a retry cannot fix.

    Attributes:
        skus: Item numbers Rackbeat does not know (their appearance lifts the refusal).
    """

    def __init__(self, message: str, *, skus: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.skus = tuple(skus)


class Customers:
    """One shop pass's customer matching: by e-mail, remembered in the store, created once."""

    def __init__(self, shop: ShopConfig, rackbeat: RackbeatClient, store: Store | None,
                 result: Callable[[], ShopResult], *, dry_run: bool, now: datetime,
                 lost_wait: float) -> None:
        self.shop = shop
        self.now = now
        self.lost_wait = lost_wait
        self.rackbeat = rackbeat
        self.store = store
        self.result = result
        self.dry_run = dry_run
        self.cache: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def number_for(self, plan: OrderPlan) -> tuple[int, str]:
        """The Rackbeat customer number for the order, and the decision in words.

        Orders worked on side by side (``[http] workers``) ask for an e-mail one at a time:
        the second finds the customer the first created, never creates another.
        """
        email = plan.customer.email
        if not email:
            guest = self.shop.orders.guest_customer
            if guest:
                return int(guest), f"guest customer {guest} (order has no e-mail)"
            raise Refusal(
                "the order has no e-mail, so no customer can be matched; set "
                f"shops.{self.shop.name}.orders.guest_customer to a Rackbeat customer number "
                "to use for such orders")
        with self._locks_lock:
            lock = self._locks.setdefault(email, threading.Lock())
        with lock:
            return self._number_for(plan, email)

    def _number_for(self, plan: OrderPlan, email: str) -> tuple[int, str]:
        if email in self.cache:
            return self.cache[email], f"customer {self.cache[email]} ({email})"
        cached = self.store.customer_get(email) if self.store else None
        if cached and cached["state"] == "done" and cached["rackbeat_number"]:
            number = int(cached["rackbeat_number"])
            self.cache[email] = number
            return number, f"customer {number} ({email})"
        existing = self.find(email)
        if existing is not None:
            self.cache[email] = existing
            if self.store:
                self.store.customer_put(email, "done", existing)
            return existing, f"existing customer {existing} ({email})"
        if cached and cached["state"] == "creating":
            later = may_still_land(cached["attempt_at"], self.now, self.lost_wait)
            if later is not None:
                raise RecordError(unseen_create(f"the new customer {email}",
                                                cached["attempt_at"], later))
        if self.dry_run:
            return 0, f"new customer ({email})"
        number = self.create(plan, email)
        return number, f"new customer {number} ({email})"

    def create(self, plan: OrderPlan, email: str) -> int:
        """Create the customer: intent journalled first, a lost answer settled by searching."""
        defaults = self.shop.orders.customer
        body = customer_payload(plan.customer, CustomerDefaultsView(
            group=defaults.group, vat_zone=defaults.vat_zone,
            payment_terms=defaults.payment_terms, layout=defaults.layout,
            currency=defaults.currency, locale=defaults.locale), plan.currency)
        assert self.store is not None  # not a dry run
        self.store.customer_put(email, "creating", attempt_at=utcnow())
        try:
            created = self.rackbeat.create("customers", body)
            number = int(created["number"])
        except OutcomeUnknownError:
            again = self.find(email)
            if again is None:
                raise
            number = again
        except ValidationError as exc:
            raise Refusal(f"Rackbeat refused the new customer {email}: "
                          + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
                          + f" (check shops.{self.shop.name}.orders.customer)") from exc
        self.store.customer_put(email, "done", number)
        self.cache[email] = number
        self.result().bump("customers_created")
        return number

    def find(self, email: str) -> int | None:
        """The Rackbeat customer with this e-mail, asked for as ``check --contract`` recorded
        the account answers (search, a filter, or every customer paged and matched here)."""
        from rackshop.contract.recorded import customer_lookup_params, load

        params = customer_lookup_params(load(self.store), email)
        for c in self.rackbeat.iter_list("customers", params or {},
                                         page_size=50 if params else 1000):
            if str(c.get("contact_email") or "").strip().lower() == email:
                return int(c["number"])
        return None


def find_by_reference(rackbeat: RackbeatClient, reference: str,
                      attempt_at: str) -> dict[str, Any] | None:
    """The Rackbeat order carrying ``reference``, created since the intent's attempt time."""
    since = parse_moment(attempt_at) - SEARCH_MARGIN
    params = {"search": reference,
              "created_at_from": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}
    for o in rackbeat.iter_list("orders", params, page_size=50):
        if o.get("other_reference") == reference:
            return o
    return None


def total_mismatch(created: Mapping[str, Any], plan: OrderPlan, number: int) -> str:
    """Why Rackbeat's computed total disagrees with Shopify's ('' when it agrees)."""
    total = created.get("total_total")
    if total is None or Decimal(str(total)).quantize(Decimal("0.01")) == plan.total:
        return ""
    return (f"Rackbeat computed {total} for draft order {number}, Shopify says "
            f"{plan.total}; the draft is held unbooked for you to check and fix by hand")


def unknown_items(exc: ValidationError, plan: OrderPlan) -> list[str]:
    """The item numbers of the lines Rackbeat's 422 names (``lines.N.item_id``)."""
    unknown = []
    for key in exc.fields:
        if key.startswith("lines.") and key.endswith(".item_id"):
            try:
                unknown.append(plan.lines[int(key.split(".")[1])].item)
            except (ValueError, IndexError):
                continue
    return unknown


def explain_422(exc: ValidationError, plan: OrderPlan) -> str:
    """Rackbeat's 422 on an order in the merchant's words: which items it does not know or has
    barred, and what lifts the refusal."""
    barred: list[str] = []
    unknown: list[str] = []
    for key, messages in exc.fields.items():
        if not (key.startswith("lines.") and key.endswith(".item_id")):
            continue
        try:
            item = plan.lines[int(key.split(".")[1])].item
        except (ValueError, IndexError):
            item = key
        (barred if any("barred" in m for m in messages) else unknown).append(item)
    parts = []
    if unknown:
        parts.append(f"Rackbeat does not know the item number(s) "
                     f"{', '.join(sorted(set(unknown)))}; create them in Rackbeat (or fix the "
                     "SKUs in Shopify)")
    if barred:
        parts.append(f"the item(s) {', '.join(sorted(set(barred)))} are barred in Rackbeat; "
                     "lift the bar in Rackbeat")
    if parts:
        return "; ".join(parts) + (": the order waits, and is sent again on the first pass "
                                   "after that")
    return f"Rackbeat refused the order: {exc.message}"
