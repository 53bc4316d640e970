"""The Shopify twin's app installation and its contract variants (issue 16).

``currentAppInstallation { accessScopes { handle } }`` answers the scopes the shop granted the
app: :data:`FULL_SCOPES` unless a test or ``rackshop sandbox serve`` narrowed them. Two admin
actions switch a shop to a documented alternative, so ``rackshop check --contract`` can be shown
to detect it:

* ``POST /__sandbox/scopes`` ``{"shop": "dk", "scopes": ["read_orders", ...]}`` grants only
  those scopes (``"scopes": null`` restores the full set);
* ``POST /__sandbox/plan`` ``{"shop": "dk", "plan": "advanced"}`` or ``{"shop": "dk",
  "bucket": [1000, 50]}`` gives the shop another plan's rate (``throttleStatus`` follows);
* ``POST /__sandbox/api-version`` ``{"serve": "2026-04"}`` answers every request with that
  ``X-Shopify-API-Version``, as Shopify does when the requested version is no longer supported
  (it falls forward to the oldest supported one); ``{"serve": null}`` echoes the request again.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from rackshop.sandbox.base import Request, Response, json_response

from .catalog import ctx_of
from .state import PLANS, Bucket

#: Every scope rackshop's jobs can ask for: what a fully set-up custom app grants.
FULL_SCOPES = (
    "read_products", "write_products", "read_inventory", "write_inventory", "read_locations",
    "read_orders", "write_orders", "read_publications", "write_publications",
    "read_merchant_managed_fulfillment_orders", "write_merchant_managed_fulfillment_orders",
)
_ATTR = "contract_scopes"
_SERVED = "contract_served_version"


def served_version(twin: Any, requested: str) -> str:
    """The ``X-Shopify-API-Version`` the twin answers (the requested one unless changed)."""
    return str(getattr(twin, _SERVED, None) or requested)


def scopes_of(shop: Any) -> tuple[str, ...]:
    """The scopes a twin shop grants."""
    return tuple(getattr(shop, _ATTR, None) or FULL_SCOPES)


def narrowed_scopes(shop: Any) -> tuple[str, ...] | None:
    """The scopes a narrowed shop grants; ``None`` while it grants the full set."""
    scopes = getattr(shop, _ATTR, None)
    return tuple(scopes) if scopes is not None else None


def _r_installation(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    shop = ctx_of(info).shop
    return {"accessScopes": [{"handle": h, "description": h.replace("_", " ")}
                             for h in scopes_of(shop)]}


def register(schema: GraphQLSchema) -> None:
    """Attach the resolver (the SDL is ``schema_app.graphql``)."""
    query = schema.get_type("Query")
    fields = getattr(query, "fields", {})
    if "currentAppInstallation" in fields:
        fields["currentAppInstallation"].resolve = _r_installation


def admin(twin: Any, req: Request, action: str) -> Response | None:
    """``/__sandbox/scopes``, ``plan`` and ``api-version``; ``None`` for any other action."""
    if action not in ("scopes", "plan", "api-version") or req.method != "POST":
        return None
    data = req.json() or {}
    if action == "api-version":
        setattr(twin, _SERVED, data.get("serve") or None)
        return json_response(200, {"serve": data.get("serve")})
    shop = twin.shops.get(str(data.get("shop")))
    if shop is None:
        return json_response(404, {"errors": f"no shop {data.get('shop')!r}"})
    if action == "scopes":
        scopes = data.get("scopes")
        setattr(shop, _ATTR, tuple(str(s) for s in scopes) if scopes is not None else None)
        return json_response(200, {"shop": shop.name, "scopes": list(scopes_of(shop))})
    if data.get("bucket"):
        size, rate = (float(x) for x in data["bucket"])
    else:
        plan = str(data.get("plan") or "standard")
        if plan not in PLANS:
            return json_response(400, {"errors": f"unknown plan {plan!r}; one of "
                                       f"{', '.join(PLANS)}"})
        shop.plan = plan
        size, rate = PLANS[plan]
    shop.bucket = Bucket(twin.clock.now, size, rate)
    return json_response(200, {"shop": shop.name, "plan": shop.plan,
                               "bucket": [size, rate]})
