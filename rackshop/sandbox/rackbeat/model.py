"""The Rackbeat twin's data and business rules: items and stock, orders, customers, invoices.

Everything here is plain Python under the app's lock; :mod:`.app` turns HTTP into calls on
:class:`Account` and :class:`~.validation.ApiError` into answers. The rules follow section 6 of
the Rackbeat reference; each choice where the public record is unsure is listed in
``docs/sandbox-rackbeat.md``. The conventions that matter most:

* Records are addressed by ``number`` (items: a string, compared case-insensitively like MySQL's
  default collation; everything else: an integer). Every ``*_id`` that points at a numbered
  record (``group_id``, ``customer_id``, ``location_id``, ``item_id``...) carries its *number*.
  Shipments, lines, adjustments and webhooks are addressed by ``id``.
* Stock is kept per (item, exact location): ``on_hand`` and ``reserved`` (booked, not yet
  deducted order lines). ``available = on_hand - reserved``. BOMs (lots) hold no stock of their
  own: their quantities are derived from their components.
* Every change, stock movements and reservations included, bumps the record's ``updated_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .invoicing import InvoicingAccount
from .records import WEBHOOK_EVENTS, Webhook, lookup, set_given
from .validation import ApiError, Validator


class Account(InvoicingAccount):
    """One Rackbeat account: all records and every business rule (the layers: inventory.py,
    sales.py, invoicing.py), and its webhook subscriptions."""

    # -- webhooks ---------------------------------------------------------------------------

    def save_webhook(
        self, payload: Mapping[str, Any], *, allowed_host: Callable[[str], bool]
    ) -> tuple[Webhook, bool]:
        """``POST /webhooks``: create, or update the one with the same event and URL.

        Returns:
            The webhook and whether it was created.
        """
        v = Validator(payload)
        event = v.one_of("event", WEBHOOK_EVENTS, required=True)
        url = _local_url(v, allowed_host, required=True)
        active = v.boolean("is_active")
        v.check()
        assert event is not None and url is not None
        for hook in self.webhooks.values():
            if hook.event == event and hook.url == url:
                if active is not None:
                    hook.is_active = active
                self._touch(hook)
                return hook, False
        now = self.now()
        hook = Webhook(now, now, self.next_id("webhook"), event, url, self._token_factory())
        if active is not None:
            hook.is_active = active
        self.webhooks[hook.id] = hook
        return hook, True

    def update_webhook(
        self, hook: Webhook, payload: Mapping[str, Any], *, allowed_host: Callable[[str], bool]
    ) -> Webhook:
        """``PUT /webhooks/{id}``: partial update."""
        v = Validator(payload)
        event = v.one_of("event", WEBHOOK_EVENTS)
        url = _local_url(v, allowed_host, required=False)
        active = v.boolean("is_active")
        v.check()
        set_given(hook, event=event, url=url, is_active=active)
        self._touch(hook)
        return hook

    def webhook(self, ident: Any) -> Webhook:
        """The webhook with this id; 404 otherwise."""
        return lookup(self.webhooks, ident, "Webhook")


def as_error(exc: ApiError) -> ValueError:
    """An API error raised by the Python seeding API, as a ``ValueError`` with the messages."""
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.errors or {}).items())
    return ValueError(f"{exc.message} {detail}".strip())


def _local_url(v: Validator, allowed_host: Callable[[str], bool], *, required: bool) -> str | None:
    """A webhook's ``url``, which must point at this machine (the sandbox never calls out)."""
    url = v.string("url", required=required, max_len=2048)
    if url is not None and not allowed_host(url):
        v.fail(
            "url", "The {attr} must point to 127.0.0.1 or localhost: the sandbox never calls out."
        )
    return url
