"""Webhook subscriptions and signed deliveries.

Subscriptions are made with ``webhookSubscriptionCreate`` (``uri``; the deprecated
``callbackUrl`` is read too). Addresses are checked as Shopify checks them (``https://`` to any
host; ``http://`` refused with Shopify's own message), and ``http://`` to ``127.0.0.1``,
``localhost`` or ``[::1]`` is accepted too. The sandbox never sends traffic off the machine: a
delivery to an address elsewhere is recorded with status ``withheld`` and never sent.

Events come from :meth:`ShopState.emit` (``products/create``, ``products/update``,
``inventory_levels/update``, ``bulk_operations/finish`` from this twin; order topics from the
order part). Each matching subscription gets a delivery: a POST of the REST-shaped JSON body,
signed with the twin's ``api_secret`` (``X-Shopify-Hmac-Sha256``), sent by a background thread
and retried with exponential backoff on twin time until a 2xx or the attempt limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLResolveInfo, GraphQLSchema

from . import search
from .catalog import ctx_of, does_not_exist, paged, run_search, stamp_fields, user_error
from .state import ShopState, TwinHost, gid_number, set_resolvers

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
FILTER_INVALID = (
    "The specified filter is invalid, please ensure you specify the field(s) you wish to filter on."
)


def topic_enum(topic: str) -> str:
    """``orders/create`` -> ``ORDERS_CREATE`` (also accepts the enum form)."""
    return topic.replace("/", "_").upper()


def topic_header(enum: str, given: str | None = None) -> str:
    """The ``X-Shopify-Topic`` form of a topic (``products/update``)."""
    if given and "/" in given:
        return given
    resource, _, action = enum.lower().partition("_")
    # Resources with an underscore in their name (inventory_levels, bulk_operations...).
    for multi in (
        "inventory_levels",
        "inventory_items",
        "bulk_operations",
        "draft_orders",
        "order_transactions",
        "fulfillment_events",
        "fulfillment_orders",
        "app_subscriptions",
    ):
        if enum.lower().startswith(multi + "_"):
            return f"{multi}/{enum.lower()[len(multi) + 1 :]}"
    return f"{resource}/{action}"


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 of the raw body with the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def address_errors(uri: str | None) -> list[dict[str, Any]]:
    """Why a subscription address is refused (empty if it is fine for the sandbox)."""
    field = ["webhookSubscription", "callbackUrl"]
    if uri is None or not uri.strip():
        return [user_error(field, "Address can't be blank")]
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    if scheme == "pubsub":
        return [
            user_error(field, "Address protocol pubsub:// is not supported"),
            user_error(
                field,
                "Address is not a valid GCP pub/sub format. Format should be pubsub://project:topic",
            ),
        ]
    if scheme not in ("http", "https"):
        return [user_error(field, f"Address protocol {scheme or uri}:// is not supported")]
    host = (parts.hostname or "").lower()
    if host not in LOCAL_HOSTS:
        if scheme == "http":
            return [user_error(field, "Address protocol http:// is not supported")]
        return []  # accepted as Shopify accepts it; deliveries there are withheld (never sent)
    if scheme != "http":
        return [
            user_error(
                field,
                "Address protocol https:// is not supported for local addresses in the sandbox; "
                "use http://",
            )
        ]
    return []


def _is_local(uri: str) -> bool:
    return (urlsplit(uri).hostname or "").lower() in LOCAL_HOSTS


def _subscription_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        **stamp_fields(),
        "topic": F(lambda s: s["topic"], "string"),
    }


# -- resolvers --------------------------------------------------------------------------------


def _subscription_input(data: dict[str, Any]) -> str | None:
    uri = data.get("uri")
    if uri is None:
        uri = data.get("callbackUrl")
    return uri if uri is None else str(uri)


def _m_create(
    _: Any, info: GraphQLResolveInfo, topic: str, webhookSubscription: dict[str, Any]
) -> Any:
    ctx = ctx_of(info)
    shop = ctx.shop
    data = dict(webhookSubscription)
    uri = _subscription_input(data)
    errs = address_errors(uri)
    flt = data.get("filter")
    if flt is not None and not search.is_valid_filter(flt):
        errs.append(user_error(["webhookSubscription"], FILTER_INVALID))
    if not errs:
        assert uri is not None
        for s in shop.webhook_subscriptions.values():
            if s["topic"] == topic and s["uri"] == uri.strip():
                errs.append(
                    user_error(
                        ["webhookSubscription", "callbackUrl"],
                        "Address for this topic has already been taken",
                    )
                )
    if errs:
        return {"webhookSubscription": None, "userErrors": errs}
    assert uri is not None
    ts = shop.now_iso()
    sub: dict[str, Any] = {
        "id": shop.new_gid("WebhookSubscription"),
        "topic": topic,
        "format": data.get("format") or "JSON",
        "includeFields": list(data.get("includeFields") or []),
        "metafieldNamespaces": list(data.get("metafieldNamespaces") or []),
        "filter": flt,
        "name": data.get("name"),
        "createdAt": ts,
        "updatedAt": ts,
        "apiVersion": {
            "handle": ctx.api_version,
            "displayName": ctx.api_version,
            "supported": True,
        },
    }
    _set_uri(sub, uri.strip())
    shop.webhook_subscriptions[sub["id"]] = sub
    ctx.twin.webhooks.start()
    return {"webhookSubscription": sub, "userErrors": []}


def _set_uri(sub: dict[str, Any], uri: str) -> None:
    sub["uri"] = uri
    sub["callbackUrl"] = uri
    sub["endpoint"] = {"__typename": "WebhookHttpEndpoint", "callbackUrl": uri}


def _m_update(
    _: Any, info: GraphQLResolveInfo, id: str, webhookSubscription: dict[str, Any]
) -> Any:
    shop = ctx_of(info).shop
    sub = shop.webhook_subscriptions.get(id)
    if sub is None:
        return does_not_exist("Webhook subscription", webhookSubscription=None)
    data = dict(webhookSubscription)
    errs: list[dict[str, Any]] = []
    uri = _subscription_input(data)
    if "uri" in data or "callbackUrl" in data:
        errs += address_errors(uri)
    flt = data.get("filter")
    if flt is not None and not search.is_valid_filter(flt):
        errs.append(user_error(["webhookSubscription"], FILTER_INVALID))
    if errs:
        return {"webhookSubscription": None, "userErrors": errs}
    if uri is not None:
        _set_uri(sub, uri.strip())
    for k in ("format", "name"):
        if k in data and data[k] is not None:
            sub[k] = data[k]
    for k in ("includeFields", "metafieldNamespaces"):
        if k in data and data[k] is not None:
            sub[k] = list(data[k])
    if "filter" in data:
        sub["filter"] = flt
    shop.touch(sub)
    return {"webhookSubscription": sub, "userErrors": []}


def _m_delete(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    shop = ctx_of(info).shop
    if shop.webhook_subscriptions.pop(id, None) is None:
        return does_not_exist("Webhook subscription", deletedWebhookSubscriptionId=None)
    return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def _matching(info: GraphQLResolveInfo, args: dict[str, Any]) -> list[dict[str, Any]]:
    subs = list(ctx_of(info).shop.webhook_subscriptions.values())
    uri = args.get("uri") or args.get("callbackUrl")
    if uri:
        subs = [s for s in subs if s["uri"] == uri]
    if args.get("format"):
        subs = [s for s in subs if s["format"] == args["format"]]
    if args.get("topics"):
        subs = [s for s in subs if s["topic"] in args["topics"]]
    return run_search(info, args.get("query"), subs, _subscription_fields())


def _r_subscriptions(_: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    sort = (
        (lambda s: s["createdAt"])
        if args.get("sortKey") == "CREATED_AT"
        else (lambda s: gid_number(s["id"]))
    )
    return paged(info, _matching(info, args), args, sort)


def _r_count(_: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    n = len(_matching(info, args))
    limit = args.get("limit")
    if limit is not None and n > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


def _r_subscription(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.webhook_subscriptions.get(id)


def _legacy(sub: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return str(gid_number(sub["id"]))


def register(schema: GraphQLSchema) -> None:
    """Attach the webhook-subscription resolvers to the twin's schema."""
    set_resolvers(schema, "Query", {"webhookSubscriptions": _r_subscriptions,
                                    "webhookSubscriptionsCount": _r_count,
                                    "webhookSubscription": _r_subscription})
    set_resolvers(schema, "Mutation", {"webhookSubscriptionCreate": _m_create,
                                       "webhookSubscriptionUpdate": _m_update,
                                       "webhookSubscriptionDelete": _m_delete})
    sub_type = schema.get_type("WebhookSubscription")
    sub_type.fields["legacyResourceId"].resolve = _legacy  # type: ignore[union-attr]
    endpoint = schema.get_type("WebhookSubscriptionEndpoint")
    endpoint.resolve_type = lambda value, info, t: value.get("__typename")  # type: ignore[union-attr]


# -- delivery ---------------------------------------------------------------------------------


def _filter_passes(sub: dict[str, Any], payload: dict[str, Any]) -> bool:
    flt = sub.get("filter")
    if not flt:
        return True

    def getter(path: str) -> Any:
        def get(p: Any) -> Any:
            cur: Any = p
            for part in path.split("."):
                if isinstance(cur, list):
                    cur = [c.get(part) if isinstance(c, dict) else None for c in cur]
                elif isinstance(cur, dict):
                    cur = cur.get(part)
                else:
                    return None
            return cur

        return get

    names = {t.field for t in search.terms(search.parse(flt)) if t.field}
    fields = {n: search.Field(getter(n), "string") for n in names}
    for n in names:
        if n.endswith("_at"):
            fields[n] = search.Field(getter(n), "time")
        elif n == "id" or n.endswith("_id"):
            fields[n] = search.Field(getter(n), "id")
    return search.compile_search(flt, fields).matches(payload)


class WebhookDispatcher:
    """Queues webhook deliveries and sends them from a background thread.

    Attributes:
        max_attempts: Attempts per delivery (Shopify retries 8 times after the first).
        retry_base: First retry delay in twin-seconds; doubles each attempt.
        retry_cap: Longest retry delay in twin-seconds.
        timeout: Real seconds to wait for a receiver.
        poll_interval: Real seconds between scans of the queue.
        background: Send from a background thread (set False to send only when
            :meth:`deliver_due` is called, e.g. in deterministic tests).
    """

    def __init__(self, twin: TwinHost) -> None:
        self.twin = twin
        self.max_attempts = 9
        self.retry_base = 1.0
        self.retry_cap = 3600.0
        self.timeout = 5.0
        self.poll_interval = 0.02
        self.background = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    # -- queueing ----------------------------------------------------------------------------

    def enqueue(self, shop: ShopState, topic: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Create one delivery per subscription on ``topic``; returns them."""
        enum = topic_enum(topic)
        subs = [s for s in shop.webhook_subscriptions.values() if s["topic"] == enum]
        if not subs:
            return []
        event_id = str(uuid.uuid4())
        triggered = datetime.fromtimestamp(shop.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out = []
        for sub in subs:
            if not _filter_passes(sub, payload):
                continue
            body_obj = payload
            if sub.get("includeFields"):
                body_obj = {k: v for k, v in payload.items() if k in sub["includeFields"]}
            body = json.dumps(body_obj, ensure_ascii=False).encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Shopify-Captain-Hook",
                "X-Shopify-Topic": topic_header(enum, topic),
                "X-Shopify-Hmac-Sha256": sign(self.twin.api_secret, body),
                "X-Shopify-Shop-Domain": shop.domain,
                "X-Shopify-API-Version": sub["apiVersion"]["handle"],
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Event-Id": event_id,
                "X-Shopify-Triggered-At": triggered,
            }
            if sub.get("name"):
                headers["X-Shopify-Name"] = sub["name"]
            delivery = {
                "webhookId": headers["X-Shopify-Webhook-Id"],
                "eventId": event_id,
                "topic": headers["X-Shopify-Topic"],
                "subscriptionId": sub["id"],
                "uri": sub["uri"],
                # the twin never sends traffic off this machine
                "status": "pending" if _is_local(sub["uri"]) else "withheld",
                "attempts": 0,
                "responses": [],
                "nextAttemptAt": self.twin.clock.now(),
                "createdAt": shop.now_iso(),
                "headers": headers,
                "body": body,
            }
            shop.deliveries.append(delivery)
            out.append(delivery)
        if out:
            self.start()
            self._wake.set()
        return out

    # -- sending -----------------------------------------------------------------------------

    def due(self) -> list[tuple[ShopState, dict[str, Any]]]:
        """Deliveries whose next attempt is due (claimed: marked ``sending``)."""
        now = self.twin.clock.now()
        out = []
        with self.twin.lock:
            for shop in self.twin.shops.values():
                for d in shop.deliveries:
                    if d["status"] in ("pending", "retrying") and d["nextAttemptAt"] <= now:
                        d["status"] = "sending"
                        out.append((shop, d))
        return out

    def deliver_due(self) -> int:
        """Send every delivery that is due now (called by the thread; tests may call it).

        The twin's lock is not held while sending, so a receiver may call the twin back.
        """
        with self._guard:
            batch = self.due()
            for _shop, d in batch:
                status, error = self._post(d)
                with self.twin.lock:
                    d["attempts"] += 1
                    d["responses"].append({"at": _shop.now_iso(), "status": status, "error": error})
                    d["lastStatus"] = status
                    if status is not None and 200 <= status < 300:
                        d["status"] = "delivered"
                    elif d["attempts"] >= self.max_attempts:
                        d["status"] = "failed"
                    else:
                        delay = min(self.retry_cap, self.retry_base * 2 ** (d["attempts"] - 1))
                        d["status"] = "retrying"
                        d["nextAttemptAt"] = self.twin.clock.now() + delay
            return len(batch)

    def pending(self) -> int:
        """Deliveries not yet delivered or given up."""
        with self.twin.lock:
            return sum(
                1
                for shop in self.twin.shops.values()
                for d in shop.deliveries
                if d["status"] not in ("delivered", "failed", "withheld")
            )

    def _post(self, d: dict[str, Any]) -> tuple[int | None, str | None]:
        host = (urlsplit(d["uri"]).hostname or "").lower()
        if host not in LOCAL_HOSTS:  # defence in depth: subscriptions are checked already
            return None, "refused: not a local address"
        parts = urlsplit(d["uri"])
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        # http.client keeps the header names exactly as Shopify spells them.
        conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.timeout
        )
        try:
            conn.request("POST", path, body=d["body"], headers=d["headers"])
            resp = conn.getresponse()
            resp.read()
            return int(resp.status), None
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    # -- thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread (idempotent; does nothing unless :attr:`background`)."""
        if not self.background:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="shopify-twin-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the delivery thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.deliver_due()
            self._wake.wait(self.poll_interval)
            self._wake.clear()
