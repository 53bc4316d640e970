"""The Shopify twin: routing, authentication, GraphQL execution, query cost and the bucket.

Routes (several shops on one server, each under ``/shops/{shop}``):

* ``POST /shops/{shop}/admin/api/{YYYY-MM}/graphql.json`` — the Admin GraphQL API
  (``X-Shopify-Access-Token``).
* ``POST /shops/{shop}/admin/oauth/access_token`` — the client-credentials grant.
* ``GET /shops/{shop}/bulk/{n}.jsonl`` — a bulk operation's result file.
* ``POST /shops/{shop}/staged-uploads/`` — the upload target ``stagedUploadsCreate`` hands out
  (multipart form, as Shopify's signed storage form; ``bulk_mutation.py``).

A GraphQL request goes through the same steps as at Shopify: parse, validate against the twin's
schema (a subset of the real 2026-07 schema; errors in Shopify's shapes and codes), coerce the
variables (``INVALID_VARIABLE``), refuse input arrays over 250 and queries whose requested cost
is over 1,000, reserve the requested cost in the shop's leaky bucket (``THROTTLED`` when it
cannot), execute, refund requested minus actual, and answer with ``extensions.cost``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    build_schema,
    execute_sync,
    parse,
)
from graphql.execution.executor import Executor

from ..base import Clock, Request, RequestInfo, Response, TwinApp, json_response
from . import (
    bulk,
    bulk_mutation,
    catalog,
    catalog_schema,
    consistency,
    contract_admin,
    cost,
    customer_ops,
    draft_orders,
    fulfilment_ops,
    inventory_ops,
    order_edit,
    order_schema,
    order_totals,
    owner_writes,
    scopes,
    taxonomy,
    webhooks,
)
from .graphql_errors import (
    execution_error,
    max_cost_message,
    node_locations,
    parse_error_message,
    validation_errors,
)
from .input_checks import coerce_variables, oversized_inputs
from .state import PLANS, Bucket, Context, SchemaMemo, ShopState, wall_clock

PACKAGE_DIR = Path(__file__).resolve().parent
#: Mutations that change no shop data (a bulk query reads): the request log counts them as reads.
READ_ONLY_MUTATIONS = frozenset({"bulkOperationRunQuery"})
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED_DOC = "https://shopify.dev/api/usage/rate-limits"
TOKEN_LIFETIME = 86399
DEFAULT_SCOPES = (
    "read_products,write_products,read_inventory,write_inventory,read_locations,"
    "read_orders,write_orders"
)
_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")


# -- schema -----------------------------------------------------------------------------------


def schema_sdl() -> str:
    """The twin's SDL: ``schema.graphql`` plus every ``schema_*.graphql`` beside it."""
    parts = [(PACKAGE_DIR / "schema.graphql").read_text(encoding="utf-8")]
    for extra in sorted(PACKAGE_DIR.glob("schema_*.graphql")):
        parts.append(extra.read_text(encoding="utf-8"))
    return "\n\n".join(parts)


def build_twin_schema(*, resolvers: bool = True) -> GraphQLSchema:
    """Build the twin's schema, with its resolvers attached unless ``resolvers=False``."""
    schema = build_schema(schema_sdl())
    if resolvers:
        catalog_schema.register(schema)
        owner_writes.register(schema)
        bulk.register(schema)
        bulk_mutation.register(schema)
        webhooks.register(schema)
        contract_admin.register(schema)  # issue 16: currentAppInstallation
        inventory_ops.register(schema)
        draft_orders.register(schema)
        taxonomy.register(schema)
        order_schema.register(schema)
        fulfilment_ops.register(schema)
        customer_ops.register(schema)
        order_edit.register(schema)  # issue 12: orderEditBegin/SetQuantity/AddVariant/Commit
    return schema


@functools.lru_cache(maxsize=1)
def shared_schema() -> GraphQLSchema:
    """One schema with resolvers per process (resolvers keep no state; the context does)."""
    return build_twin_schema()


# -- the twin ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _parsed(query: str) -> DocumentNode:
    """``parse`` memoised by query text: clients send the same few documents over and over,
    and execution never changes a document (syntax errors are raised again each time)."""
    return parse(query)



@functools.lru_cache(maxsize=1024)
def _operation_label(query: str, op_name: str | None) -> tuple[str, str]:
    """The request log's label (``mutation productSet``) and access of a document, memoised:
    every request is described, and parsing it again was a quarter of the twin's time."""
    try:
        doc = _parsed(query)
        op = cost.select_operation(doc, op_name)
    except (ValueError, GraphQLError, AttributeError):
        return "query ?", "read"
    if op is None:
        return "query ?", "read"
    fragments = {d.name.value: d for d in doc.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    names = list(dict.fromkeys(f.name.value
                               for f in cost.selected_fields(op.selection_set, fragments)))
    write = op.operation.value == "mutation" and not set(names) <= READ_ONLY_MUTATIONS
    return f"{op.operation.value} {','.join(names)}", "write" if write else "read"

_VALIDATED: SchemaMemo[list[dict[str, Any]]] = SchemaMemo(4096)


def _validated(schema: GraphQLSchema, query: str, doc: DocumentNode) -> list[dict[str, Any]]:
    """``validation_errors`` memoised by (schema, query text): validation depends on nothing
    else, and is most of the cost of a small request."""
    errors = _VALIDATED.get(schema, query, lambda: validation_errors(schema, doc))
    return [dict(e) for e in errors]


#: ``(type, field)`` whose ``[String!]`` list answers integers as JSON numbers, as Shopify does
#: although the schema says ``String`` (recorded: order-create-validation-matrix-extended,
#: ``["order", "lineItems", 0, "taxLines", 0, "rate"]``; other user errors answer ``"0"``).
INTEGER_INDEX_FIELDS = frozenset({("OrderCreateUserError", "field")})


class IndexKeepingExecutor(Executor[Any]):
    """graphql-core's executor, answering :data:`INTEGER_INDEX_FIELDS` as Shopify does."""

    def complete_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if (
            isinstance(result, list)
            and (info.parent_type.name, info.field_name) in INTEGER_INDEX_FIELDS
            and path.key == info.field_name
        ):
            return [v if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in result]
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )


class ShopifyTwin(TwinApp):
    """A local Shopify Admin GraphQL API for several shops.

    Args:
        clock: Twin time (bucket refill, token expiry, bulk delays, webhook retries).
        api_secret: The app's client secret: webhook HMAC key.
        wall: Wall-clock source for timestamps (``createdAt``...), default ``time.time``.

    Attributes:
        shops: Shop name -> :class:`ShopState`.
        bulk_polls_to_complete: Polls after which a bulk operation completes (default 2).
        bulk_delay: If set, a bulk operation completes this many twin-seconds after it
            started instead (checked when polled).
        webhooks: The webhook dispatcher (``max_attempts``, ``retry_base``... are tunable).
    """

    name = "shopify"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        api_secret: str = "sandbox-app-secret",
        wall: Callable[[], float] = wall_clock,
    ) -> None:
        super().__init__(clock)
        self.api_secret = api_secret
        self._wall = wall
        self._wall_offset = 0.0
        self.schema = shared_schema()
        self.shops: dict[str, ShopState] = {}
        self.bulk_polls_to_complete = 2
        self.bulk_delay: float | None = None
        # Shopify finishes a bulk operation whether or not anyone polls it; one nobody polls
        # (its client was killed) completes after this many twin-seconds all the same.
        self.bulk_background_seconds = 2.0
        #: eventual consistency (off in the bare twin, on in ``Sandbox(consistency=True)``;
        #: ``POST /__sandbox/consistency``, or ``RACKSHOP_SANDBOX_CONSISTENCY``: 0, 1 or a JSON
        #: object of settings)
        self.consistency = consistency.Consistency()
        self.consistency.update(consistency.from_environment())
        self.base_url = "http://127.0.0.1"
        self.webhooks = webhooks.WebhookDispatcher(self)
        self._requests = 0

    # -- time --------------------------------------------------------------------------------

    def wall_time(self) -> float:
        """Wall-clock seconds for timestamps (advanced by ``POST /__sandbox/time``)."""
        return self._wall() + self._wall_offset

    def advance_wall_clock(self, seconds: float) -> None:
        """Move the timestamps' clock forward (e.g. to test ``updated_at`` cursors)."""
        self._wall_offset += seconds

    # -- Python API --------------------------------------------------------------------------

    def add_shop(
        self,
        name: str,
        *,
        token: str,
        plan: str = "standard",
        currency: str = "DKK",
        taxes_included: bool = True,
        locations: Iterable[str] = ("Main warehouse",),
        client_id: str | None = None,
        client_secret: str | None = None,
        domain: str | None = None,
        bucket: tuple[float, float] | None = None,
    ) -> ShopState:
        """Create a shop.

        Args:
            name: The shop's name in URLs (``/shops/{name}/...``).
            token: Its static ``X-Shopify-Access-Token``.
            plan: ``standard`` (100/s, 2000), ``advanced`` (200/s, 4000), ``plus`` (1000/s,
                20000) or ``enterprise``.
            currency: Shop currency code.
            taxes_included: Whether prices include tax.
            locations: Location names; the first is the primary location.
            client_id: Enables the client-credentials grant with ``client_secret``.
            client_secret: See ``client_id``.
            domain: ``{name}.myshopify.com`` by default.
            bucket: ``(size, restore rate)`` overriding the plan's bucket (tests).

        Raises:
            ValueError: Unknown plan or a shop of that name exists.
        """
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; use one of {', '.join(PLANS)}")
        with self.lock:
            if name in self.shops:
                raise ValueError(f"shop {name!r} exists")
            shop = ShopState(
                twin=self,
                name=name,
                token=token,
                plan=plan,
                currency=currency,
                taxes_included=taxes_included,
                domain=domain or "",
                client_id=client_id,
                client_secret=client_secret,
                shop_no=len(self.shops) + 1,
                bucket=Bucket(self.clock.now, *bucket) if bucket else None,
            )
            for loc_name in locations:
                self._add_location(shop, loc_name)
            self.shops[name] = shop
            return shop

    def _add_location(self, shop: ShopState, name: str) -> dict[str, Any]:
        gid = shop.new_gid("Location")
        ts = shop.now_iso()
        loc = {
            "id": gid,
            "name": name,
            "isActive": True,
            "activatable": True,
            "deactivatable": True,
            "deletable": False,
            "fulfillsOnlineOrders": True,
            "hasActiveInventory": False,
            "isFulfillmentService": False,
            "shipsInventory": True,
            "isPrimary": not shop.locations,
            "createdAt": ts,
            "updatedAt": ts,
            "deactivatedAt": None,
            "address": {
                "address1": None,
                "address2": None,
                "city": None,
                "country": "Denmark",
                "countryCode": "DK",
                "formatted": ["Denmark"],
                "latitude": None,
                "longitude": None,
                "phone": None,
                "province": None,
                "provinceCode": None,
                "zip": None,
            },
        }
        shop.locations[gid] = loc
        return loc

    def shop(self, name: str) -> ShopState:
        """A shop by name.

        Raises:
            KeyError: No such shop.
        """
        try:
            return self.shops[name]
        except KeyError:
            raise KeyError(f"no shop {name!r}; known: {', '.join(self.shops) or 'none'}") from None

    def create_product(
        self,
        shop: str,
        *,
        title: str,
        variants: list[dict[str, Any]],
        status: str = "ACTIVE",
        product_type: str = "",
        vendor: str = "",
        description_html: str = "",
        tags: Iterable[str] = (),
        options: list[str] | None = None,
    ) -> str:
        """Seed a product (no HTTP, no cost, no webhooks); returns its gid.

        Each variant dict may hold ``sku``, ``price`` (str), ``barcode``, ``compare_at_price``,
        ``weight`` (float), ``weight_unit`` (``KILOGRAMS``...), ``tracked`` (default True),
        ``taxable``, ``cost``, ``inventory_policy``, option values as ``options`` (a list aligned
        with ``options`` or a ``{name: value}`` dict) or ``option``/``option1``..``option3``, and
        ``stock: {location name or gid: available}``.
        """
        with self.lock:
            s = self.shop(shop)
            p = catalog.new_product(
                s,
                title=title,
                status=status,
                product_type=product_type,
                vendor=vendor or s.name,
                description_html=description_html,
                tags=tags,
            )
            names = list(options or [])
            for i, name in enumerate(names, start=1):
                p["options"].append(catalog.new_option(s, name, i, []))
            for v in variants or [{}]:
                catalog.new_variant(
                    s,
                    p,
                    options=self._variant_options(names, v),
                    sku=v.get("sku"),
                    price=v.get("price", "0.00"),
                    barcode=v.get("barcode"),
                    compare_at_price=v.get("compare_at_price"),
                    taxable=v.get("taxable", True),
                    inventory_policy=v.get("inventory_policy", "DENY"),
                    tracked=v.get("tracked", True),
                    requires_shipping=v.get("requires_shipping", True),
                    weight=float(v.get("weight", 0.0)),
                    weight_unit=v.get("weight_unit", "KILOGRAMS"),
                    cost=v.get("cost"),
                    stock=v.get("stock"),
                )
            catalog.refresh_options(s, p)
            return str(p["id"])

    @staticmethod
    def _variant_options(names: list[str], v: dict[str, Any]) -> list[tuple[str, str]] | None:
        given = v.get("options")
        if isinstance(given, dict):
            return [(str(k), str(val)) for k, val in given.items()]
        values = list(given) if isinstance(given, (list, tuple)) else []
        if not values:
            values = [
                v[k] for k in ("option", "option1", "option2", "option3") if v.get(k) is not None
            ]
        if not values:
            return None
        if not names:
            names = ["Title", "Option2", "Option3"][: len(values)]
        return list(zip(names, [str(x) for x in values], strict=False))

    def set_available(
        self, shop: str, inventory_item_gid: str, location_gid: str, quantity: int
    ) -> None:
        """Set an item's available quantity at a location (stocking it there if needed)."""
        with self.lock:
            s = self.shop(shop)
            item = s.inventory_items[inventory_item_gid]
            loc = s.locations[location_gid]
            level = item["levels"].get(location_gid) or s.new_level(item, loc)
            level["isActive"] = True
            if s.change_quantity(
                level, "available", int(quantity) - level["quantities"]["available"]
            ):
                s.inventory_event(level)

    def execute(
        self,
        shop: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        api_version: str = "2026-07",
    ) -> dict[str, Any]:
        """Run GraphQL in-process for a shop (no auth, no cost, no bucket)."""
        with self.lock:
            return self.run_graphql(self.shop(shop),
                                    {"query": query, "variables": dict(variables or {})},
                                    api_version=api_version)

    def seed(self, params: Mapping[str, Any]) -> Any:
        """Load seed data via :func:`rackshop.sandbox.seed.seed_shopify`."""
        from ..seed import seed_shopify  # the lead's module

        return seed_shopify(self, params)

    def snapshot(self) -> Any:
        """Every shop's records, bulk operations, webhook deliveries and idempotency log."""
        return {"shops": {name: s.snapshot() for name, s in self.shops.items()}}

    def reset(self) -> None:
        """Forget everything, shops included."""
        self.shops.clear()
        self._wall_offset = 0.0

    def close(self) -> None:
        """Stop the webhook thread."""
        self.webhooks.stop()

    # -- HTTP --------------------------------------------------------------------------------

    def describe(self, req: Request) -> RequestInfo:
        """``query products`` / ``mutation inventorySetQuantities`` labels (for fault rules)."""
        seg = req.segments()
        shop = seg[1] if len(seg) > 1 and seg[0] == "shops" else None
        if len(seg) >= 6 and seg[2:4] == ["admin", "api"] and seg[-1] == "graphql.json":
            label, access = "query ?", "read"
            with contextlib.suppress(ValueError, AttributeError):
                body = req.json() or {}
                op_name = body.get("operationName")
                label, access = _operation_label(
                    str(body.get("query") or ""), op_name if isinstance(op_name, str) else None)
            return RequestInfo(label, access, shop)
        if len(seg) >= 3 and seg[2:] == ["admin", "oauth", "access_token"]:
            return RequestInfo("POST /admin/oauth/access_token", "write", shop)
        if len(seg) == 4 and seg[2] == "bulk":
            return RequestInfo("GET /bulk/{id}.jsonl", "read", shop)
        if len(seg) == 3 and seg[2] == bulk_mutation.UPLOAD_PATH:
            return RequestInfo("POST /staged-uploads", "write", shop)
        return RequestInfo(
            f"{req.method} {req.path}", "read" if req.method == "GET" else "write", shop
        )

    def fault_response(self, kind: str, req: Request, info: RequestInfo) -> Response:
        """Injected faults: ``429`` as Shopify's throttle body, ``5xx`` as its edge's 503 page."""
        if kind == "429":
            return json_response(
                429,
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": THROTTLED_DOC},
                        }
                    ]
                },
                **{"Retry-After": "1.0"},
            )
        page = (
            "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
            "<h1>503 Service Unavailable</h1><p>There was a problem loading this website. "
            "Please try again.</p></body></html>"
        )
        return Response(503, page, {"Content-Type": "text/html; charset=utf-8", "Retry-After": "1"})

    def handle(self, req: Request) -> Response:
        seg = req.segments()
        if len(seg) < 3 or seg[0] != "shops":
            return json_response(404, {"errors": "Not Found"})
        shop = self.shops.get(seg[1])
        if shop is None:
            return json_response(404, {"errors": "Not Found"})
        host = req.header("Host")
        if host:
            self.base_url = f"http://{host}"
        rest = seg[2:]
        if len(rest) == 4 and rest[:2] == ["admin", "api"] and rest[3] == "graphql.json":
            if req.method != "POST":
                return json_response(405, {"errors": "Method Not Allowed"})
            version = rest[2]
            if not _VERSION.match(version):
                return json_response(404, {"errors": "Not Found"})
            if not self._authorized(shop, req.header("X-Shopify-Access-Token")):
                return json_response(401, {"errors": INVALID_TOKEN})
            try:
                body = req.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("query"), str):
                return json_response(
                    400, {"errors": {"query": "Required parameter missing or invalid"}}
                )
            shop.api_versions.add(version)
            status, out, note = self._graphql(
                shop, body, api_version=version, charge=True, base_url=self.base_url
            )
            drawn = (out.get("extensions") or {}).get("cost") or {}
            return Response(
                status,
                out,
                {
                    "X-Shopify-API-Version": contract_admin.served_version(self, version),
                    "X-Request-Id": str(uuid.uuid4()),
                },
                cost=drawn.get("actualQueryCost"),
                note=note,
            )
        if rest == ["admin", "oauth", "access_token"] and req.method == "POST":
            return self._token(shop, req)
        if len(rest) == 2 and rest[0] == "bulk" and req.method == "GET":
            m = re.match(r"^(\d+)\.jsonl$", rest[1])
            data = bulk.jsonl_for(shop, int(m.group(1))) if m else None
            if data is None:
                return json_response(404, {"errors": "Not Found"})
            return Response(200, data, {"Content-Type": "application/jsonl"})
        if rest == [bulk_mutation.UPLOAD_PATH] and req.method == "POST":
            status, answer, ctype = bulk_mutation.upload(
                shop, req.header("Content-Type") or "", req.body)
            return Response(status, answer, {"Content-Type": ctype})
        return json_response(404, {"errors": "Not Found"})

    def _authorized(self, shop: ShopState, token: str | None) -> bool:
        if not token:
            return False
        if secrets.compare_digest(token, shop.token):
            return True
        expires = shop.issued_tokens.get(token)
        return expires is not None and self.clock.now() < expires

    def _token(self, shop: ShopState, req: Request) -> Response:
        ctype = (req.header("Content-Type") or "").lower()
        form: dict[str, str] = {}
        if "json" in ctype:
            try:
                form = {k: str(v) for k, v in (req.json() or {}).items()}
            except (ValueError, AttributeError):
                form = {}
        else:
            form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        if not (
            shop.client_id
            and shop.client_secret
            and form.get("client_id") == shop.client_id
            and secrets.compare_digest(form.get("client_secret", ""), shop.client_secret)
        ):
            return json_response(
                401,
                {
                    "error": "invalid_client",
                    "error_description": (
                        "Client authentication failed: unknown client or wrong secret."
                    ),
                },
            )
        token = "shpat_" + secrets.token_hex(16)
        shop.issued_tokens[token] = self.clock.now() + TOKEN_LIFETIME
        return json_response(
            200, {"access_token": token, "scope": DEFAULT_SCOPES, "expires_in": TOKEN_LIFETIME}
        )

    # -- GraphQL pipeline --------------------------------------------------------------------

    def _graphql(
        self,
        shop: ShopState,
        body: Mapping[str, Any],
        *,
        api_version: str,
        charge: bool,
        base_url: str | None = None,
    ) -> tuple[int, dict[str, Any], str | None]:
        """Run one GraphQL request; returns (HTTP status, body, log note)."""
        self._requests += 1
        request_id = str(uuid.uuid4())
        raw_vars = body.get("variables") or {}
        if not isinstance(raw_vars, dict):
            return 200, {"errors": [{"message": "Variables must be a JSON object"}]}, None
        try:
            doc = _parsed(str(body["query"]))
        except GraphQLSyntaxError as exc:
            return (
                200,
                {
                    "errors": [
                        {
                            "message": parse_error_message(exc),
                            "locations": node_locations(exc.nodes or [])
                            or [
                                {"line": loc.line, "column": loc.column}
                                for loc in exc.locations or []
                            ],
                        }
                    ]
                },
                None,
            )
        errors = _validated(self.schema, str(body["query"]), doc)
        if errors:
            return 200, {"errors": errors}, None
        op_name = body.get("operationName")
        op = cost.select_operation(doc, op_name)
        if op is None:
            ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
            message = (
                f'No operation named "{op_name}"' if op_name else "An operation name is required"
            )
            if not ops:
                message = "No operations in query document"
            return 200, {"errors": [{"message": message}]}, None
        errors = coerce_variables(self.schema, op, raw_vars, api_version)
        if errors:
            return 200, {"errors": errors}, None
        errors = oversized_inputs(self.schema, doc, op, raw_vars)
        if errors:
            return 200, {"errors": errors}, None
        narrowed = contract_admin.narrowed_scopes(shop)
        refusals = scopes.refused(narrowed, doc, op) if narrowed is not None else []
        if refusals:
            return 200, scopes.denied_answer(doc, op, refusals), "access denied"
        # An uncharged request (a bulk mutation's line) draws nothing: no cost to work out.
        requested = cost.requested_cost(self.schema, doc, raw_vars, op_name) if charge else 0
        bucket = shop.bucket
        assert bucket is not None
        if charge and requested > cost.MAX_QUERY_COST:
            bucket.refill()
            return (
                200,
                {
                    "errors": [
                        {
                            "message": (max_cost_message(requested)),
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": cost.MAX_QUERY_COST,
                            },
                        }
                    ],
                    "extensions": {"cost": self._cost(requested, None, bucket)},
                },
                None,
            )
        if charge and not bucket.take(requested):
            return (
                200,
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": THROTTLED_DOC},
                        }
                    ],
                    "extensions": {"cost": self._cost(requested, None, bucket)},
                },
                "throttled",
            )
        ctx = Context(
            shop=shop,
            twin=self,
            api_version=api_version,
            variables=dict(raw_vars),
            base_url=base_url or self.base_url,
            request_no=self._requests,
        )
        result = execute_sync(
            self.schema,
            doc,
            context_value=ctx,
            variable_values=raw_vars,
            operation_name=op_name,
            executor_class=IndexKeepingExecutor,
        )
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [execution_error(e, request_id) for e in result.errors]
        out["data"] = result.data
        extensions: dict[str, Any] = {}
        if charge:
            actual = cost.actual_cost(self.schema, doc, result.data, raw_vars, op_name)
            bucket.give(requested - actual)
            extensions["cost"] = self._cost(requested, actual, bucket)
        if ctx.search_warnings:
            extensions["search"] = ctx.search_warnings
        if extensions:
            out["extensions"] = extensions
        return 200, out, None

    def run_graphql(self, shop: ShopState, body: Mapping[str, Any], *, api_version: str,
                    base_url: str | None = None) -> dict[str, Any]:
        """One request for ``shop``, uncharged (a bulk mutation's line, a test's query); the
        answer's body."""
        return self._graphql(shop, body, api_version=api_version, charge=False,
                             base_url=base_url)[1]

    @staticmethod
    def _cost(requested: int, actual: int | None, bucket: Bucket) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": bucket.status(),
        }

    # -- admin API ---------------------------------------------------------------------------

    def admin(self, req: Request, action: str) -> Response | None:
        """Extras under ``/__sandbox/``.

        * ``POST scopes``, ``POST plan`` — contract variants (``contract_admin.py``).

        * ``GET/POST time`` — ``{"advance": seconds}`` moves the timestamps' clock forward.
        * ``GET/POST shops`` — list shops / add one (``add_shop``'s keyword arguments as JSON).
        * ``GET/POST consistency`` — ``{"enabled": true, "search_lag": 2.0, ...}`` turns eventual
          consistency on or off and sets its intervals (twin-seconds; ``consistency.py``).
        * ``POST locations`` — ``{"shop": "dk", "name": "Backroom"}`` adds a location.
        * ``GET/POST exchange-rates`` — ``{"shop": "dk", "from": "EUR", "to": "DKK", "rate":
          "7.46"}`` sets the market rate payments and refunds convert at (``order_totals``);
          answers each shop's rates.
        * ``POST bulk`` — ``{"polls": 2, "delay": null}`` sets how bulk operations complete.
        * ``POST webhooks/flush`` — send every due webhook delivery now.
        * ``POST token`` — ``{"shop": "dk", "token": "shpat_..."}`` replaces the shop's static
          token (``"token": null`` revokes it: every request then answers 401), and revokes the
          tokens the client-credentials grant issued.
        """
        variant = contract_admin.admin(self, req, action)
        if variant is not None:
            return variant
        if action == "token" and req.method == "POST":
            data = req.json() or {}
            shop = self.shops.get(str(data.get("shop")))
            if shop is None:
                return json_response(404, {"errors": f"no shop {data.get('shop')!r}"})
            new = data.get("token")
            shop.token = str(new) if new else "revoked-" + secrets.token_hex(16)
            shop.issued_tokens.clear()
            return json_response(200, {"shop": shop.name, "revoked": not new})
        if action == "time":
            if req.method == "POST":
                self.advance_wall_clock(float((req.json() or {}).get("advance", 0)))
            return json_response(200, {"now": self.wall_time(), "twinSeconds": self.clock.now()})
        if action == "shops":
            if req.method == "POST":
                data = dict(req.json() or {})
                name = data.pop("name")
                if "bucket" in data and data["bucket"] is not None:
                    data["bucket"] = tuple(data["bucket"])
                self.add_shop(name, **data)
            return json_response(
                200,
                {
                    "shops": [
                        {
                            "name": s.name,
                            "domain": s.domain,
                            "plan": s.plan,
                            "locations": list(s.locations),
                        }
                        for s in self.shops.values()
                    ]
                },
            )
        if action == "consistency":
            if req.method == "POST":
                try:
                    self.consistency.update(dict(req.json() or {}))
                except (TypeError, ValueError) as exc:
                    return json_response(400, {"errors": str(exc)})
            return json_response(200, self.consistency.as_json())
        if action == "locations" and req.method == "POST":
            data = req.json() or {}
            shop = self.shops.get(str(data.get("shop")))
            if shop is None:
                return json_response(404, {"errors": f"no shop {data.get('shop')!r}"})
            loc = self._add_location(shop, str(data.get("name") or "Location"))
            return json_response(200, {"shop": shop.name, "location": loc["id"]})
        if action == "exchange-rates":
            return self._admin_exchange_rates(req)
        if action == "bulk" and req.method == "POST":
            data = req.json() or {}
            self.bulk_polls_to_complete = int(data.get("polls", self.bulk_polls_to_complete))
            self.bulk_delay = data.get("delay", self.bulk_delay)
            return json_response(
                200, {"polls": self.bulk_polls_to_complete, "delay": self.bulk_delay}
            )
        if action == "webhooks/flush" and req.method == "POST":
            self.lock.release()  # deliveries must not hold the twin's lock
            try:
                sent = self.webhooks.deliver_due()
            finally:
                self.lock.acquire()
            return json_response(200, {"sent": sent, "pending": self.webhooks.pending()})
        return None

    def _admin_exchange_rates(self, req: Request) -> Response:
        if req.method == "POST":
            data = req.json() or {}
            shop = self.shops.get(str(data.get("shop")))
            if shop is None:
                return json_response(404, {"errors": f"no shop {data.get('shop')!r}"})
            try:
                if Decimal(str(data.get("rate"))) <= 0:
                    raise InvalidOperation
                order_totals.set_exchange_rate(
                    shop, str(data["from"]).upper(), str(data["to"]).upper(), data["rate"]
                )
            except (KeyError, InvalidOperation):
                return json_response(
                    400, {"errors": 'give "shop", "from", "to" and a positive "rate"'}
                )
        return json_response(
            200,
            {
                s.name: {
                    f"{a}/{b}": str(rate)
                    for (a, b), rate in order_totals.exchange_rates(s).items()
                }
                for s in self.shops.values()
            },
        )


__all__ = [
    "ShopifyTwin",
    "build_twin_schema",
    "schema_sdl",
]
