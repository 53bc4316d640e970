"""The customers the order part of the twin keeps (the shop state has no customer table) and the
addresses on orders: find by id or e-mail, create or update from an order's input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .state import ShopState, gid_number

_COUNTRY_NAMES = {
    "CA": "Canada", "DE": "Germany", "DK": "Denmark", "FI": "Finland", "FR": "France",
    "GB": "United Kingdom", "IS": "Iceland", "NL": "Netherlands", "NO": "Norway", "SE": "Sweden",
    "US": "United States",
}  # fmt: skip


def _customers(shop: ShopState) -> dict[str, dict[str, Any]]:
    """Customers the order part created (the core's ShopState has no customer table)."""
    table: dict[str, dict[str, Any]] | None = getattr(shop, "customers", None)
    if table is None:
        table = {}
        shop.customers = table  # type: ignore[attr-defined]
    return table


def _address(shop: ShopState, data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A ``MailingAddress`` record from a ``MailingAddressInput``."""
    if not data:
        return None
    code = data.get("countryCode")
    first, last = data.get("firstName"), data.get("lastName")
    city, province = data.get("city"), data.get("provinceCode") or data.get("province")
    country = data.get("country") or (_COUNTRY_NAMES.get(code, code) if code else None)
    area = ", ".join(p for p in (" ".join(p for p in (city, province) if p), country) if p)
    return {
        "__typename": "MailingAddress",
        "id": shop.new_gid("MailingAddress"),
        "address1": data.get("address1"),
        "address2": data.get("address2"),
        "city": city,
        "company": data.get("company"),
        "country": country,
        "countryCodeV2": code,
        "firstName": first,
        "lastName": last,
        "name": " ".join(p for p in (first, last) if p) or None,
        "phone": data.get("phone"),
        "province": data.get("province") or data.get("provinceCode"),
        "provinceCode": data.get("provinceCode"),
        "zip": data.get("zip"),
        "latitude": None,
        "longitude": None,
        "formattedArea": area or None,
    }


def _find_customer(shop: ShopState, *, gid: str | None, email: str | None) -> dict[str, Any] | None:
    table = _customers(shop)
    if gid:
        return table.get(gid)
    if email:
        for c in table.values():
            if (c["email"] or "").lower() == email.lower():
                return c
    return None


def _upsert_customer(
    shop: ShopState, attrs: Mapping[str, Any], address: dict[str, Any] | None
) -> dict[str, Any]:
    existing = _find_customer(shop, gid=attrs.get("id"), email=attrs.get("email"))
    ts = shop.now_iso()
    if existing is None:
        gid = attrs.get("id") or shop.new_gid("Customer")
        existing = {
            "__typename": "Customer",
            "id": gid,
            "legacyResourceId": str(gid_number(gid)),
            "email": None,
            "firstName": None,
            "lastName": None,
            "phone": None,
            "note": None,
            "tags": [],
            "taxExempt": False,
            "verifiedEmail": True,
            "createdAt": ts,
            "updatedAt": ts,
            "defaultAddress": None,
            "numberOfOrders": "0",
        }
        _customers(shop)[gid] = existing
    for key in ("email", "firstName", "lastName", "phone", "note", "taxExempt"):
        if attrs.get(key) is not None:
            existing[key] = attrs[key]
    if attrs.get("tags") is not None:
        existing["tags"] = sorted(set(attrs["tags"]))
    if existing["defaultAddress"] is None and address is not None:
        existing["defaultAddress"] = dict(address, id=shop.new_gid("MailingAddress"))
        if existing["firstName"] is None and existing["lastName"] is None:
            existing["firstName"] = address.get("firstName")
            existing["lastName"] = address.get("lastName")
    name = " ".join(p for p in (existing["firstName"], existing["lastName"]) if p)
    existing["displayName"] = name or existing["email"] or existing["phone"] or ""
    existing["updatedAt"] = ts
    return existing
