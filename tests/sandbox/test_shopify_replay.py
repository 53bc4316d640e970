"""Every recorded Shopify exchange replayed, generically, against the twin's public API.

The recordings (``../shared/shopify/conformance/*.json``) each have their own layout. This module
reads them all the same way, with no per-file adapter:

* **An exchange** is any object holding a ``response`` whose body (the response itself, or its
  ``payload`` or ``body``) has ``data`` or ``errors``; or a bare recorded body (an object with
  ``data``/``errors`` and ``extensions``) kept under a named key. Exchanges run in the order the
  file lists them, those nested beside a response (a case's ``setup`` before it, its
  ``cleanup`` after it) included. That is every ``data``/``errors`` body in the files: 302 in
  31 files. Issue 20 counted 293; no reading of the files gives that figure (235 bodies are
  under a ``response``, 67 bare; 289 carry ``extensions``, 13 do not), so its reader must have
  skipped nine for a reason it did not record. The first version of this reader found 267: it
  stopped at a case's own response and so missed the 35 exchanges nested beside one (the
  inventorySetQuantities cases' product setups and cleanups, order-catalog-count-read's second
  page and upstream calls).
* **An answer recorded twice** (kept alone, word for word an earlier case's answer) is compared
  with the twin's answer to that case. **A recording's upstream calls** (``upstreamCalls``: the
  calls its client made to Shopify, listed apart from the cases) are put in their place: one
  that is a case's request again is compared with the twin's answer to that case; one that
  reads recorded ids goes right before the first case that sends them (or after the answer
  that first shows them); see :func:`_placed`.
* **Its document** is the exchange's own ``query``/``document`` text, else the nearest enclosing
  one if that document's root fields are the answer's, else any document of the recording that
  asks for what the answer holds (root fields, aliases included, and the fields under each),
  with the variables sent beside it.
  Otherwise (the recorder kept the document in a file of its own project) it is rebuilt from
  the answer's shape and Shopify's real schema: the answer's root fields (an alias read as the
  root field named after the type of the id it answered, or as ``__type(name:)`` when it is a
  type's name with its first letter lowered and answers what ``__Type`` has:
  ``inventoryChangeInput: {inputFields}``), arguments taken from the variables of
  the same names, the ``@idempotent(key: $idempotencyKey)`` directive when that variable is
  sent (unless the answer says the directive was not provided), connections asked for the
  number of nodes recorded (250 when the recording has no next page). An answer that refused a
  variable (``Variable $input of type T was provided invalid value``) is the one root field with
  an argument of type T that takes every other variable sent (by name, and of a type that
  accepts its value).
* **Its variables** are its own ``variables`` (or its ``request``'s, or a key ending in
  ``Variables``: ``requestVariables``, a sibling ``downstreamReadVariables``), else the nearest
  enclosing ones. A mutation recorded with neither has its arguments read back from its answer
  (:class:`_Inputs`: every input field the answer, or for an object it made the rest of the
  recording, shows under the same name; an ``…Id`` from a gid of that type in the answer or the
  exchange's path; never an id the answer introduces). Where the answer shows an input in
  another shape it is read from that shape, as the replay sends it when it makes an object
  (:func:`_shown_for`): ``ID`` input shown as an object (``category {id fullName}``) from its
  ``id``; a nested input object's scalars shown beside it (``sku`` on a variant is
  ``inventoryItem.sku``); a variant's ``selectedOptions`` as its ``optionValues``; its item's
  levels' ``available`` quantities as its ``inventoryQuantities``.
* **Ids** are mapped as they appear: a recorded gid met in an answer is paired with the twin's
  gid at the same place; recorded gids sent before being met are translated. An object sent
  before being met that the recording shows existing is made through the twin's API from what
  the recording's answers show of it: a location through the sandbox admin API (named as the
  recording names it), a product, variant or inventory item with one ``productSet`` (title,
  options, each variant's options, SKU, price, tracking, available quantities per location; a
  product shown by its id alone gets Shopify's standalone variant).
  An object the recording makes later (a mutation's answer introduces it) or of another kind
  makes the exchange *not set up*. An object a read shows first, that no mutation of the
  recording makes and a later request sends (the recording relies on it: a product looked up,
  then named in an order's line), is made the same way before that read. Gids never met go
  through unchanged (the recordings use them to probe unknown ids). Recorded cursors sent
  back, and bare id numbers in search strings (``location_id:123``), are translated the same
  way.
* **Time**: the twin runs on the replay's clock, which moves by the time the recording shows
  passing (the latest timestamp of an answer past the latest before it) and a millisecond per
  request; Shopify's eventual consistency is on.
* **Compared**: everything, with only ids (paired), timestamps (shape), cursors (presence),
  ``extensions.cost``, error ``extensions.requestId`` and, for a rebuilt document, error
  ``locations`` normalised. Numbers compare by value: the recorder ran in JavaScript, which
  writes a whole Float as an Int (``0`` for ``0.0``).
* **Not set up, though sent**: an exchange whose answer differs is *not set up* rather than
  *differ* when the difference comes from what the recording does not hold, by one of four rules
  (the first note of each says which; the differences follow it):

  1. *Its request is not in the recording*: it was read back from its answer (no document, no
     variables), the answer shows a value for an input field of the same name that the read-back
     cannot take even in the shapes above, and the twin did not refuse it (an ``errors`` answer
     is the twin's own behaviour). The objects its answer first shows are marked as made from an
     unknown request. (None today: product-set-parity's ``secondCreate``, the last, now sends
     its category, options and stock and matches.)
  2. *State the recording does not contain*: every difference lies in an object that the
     recording never shows being made and the twin has no counterpart for (the replay makes an
     object only when a request sends it, above), or that rule 1 marked. A difference lies in
     the object at its place, the items of a list there, a connection's nodes for its
     ``pageInfo``, else the nearest enclosing object with an id; a ``…Count`` (``ordersCount``
     under any alias) in the objects of the kind it counts that the same answer shows, when all
     of them are such objects. (order-catalog-count-read's searches and counts of the shop's
     earlier orders, product-set-parity's 50 locations, schema-roots' earlier current bulk
     operation.)
  3. *Time the recording does not contain*: a read whose answer holds no timestamp differs, and
     matches when asked again after the twin's longest modelled lag: nothing says how long
     after the request before it the read was made. The replay's clock stays moved on by that
     lag either way; a read that still differs is judged on its first answer.
     (schema-roots' polls after a cancel answer ``CANCELED``; the twin is ``CANCELING`` for
     ``cancel_seconds``.)
  4. *Literal arguments the recording does not contain*: a rebuilt document (arguments from the
     recorded variables only) differs, and matches when sent again from the twin's state before
     it with one of its root field's optional Boolean arguments that it left out given the value
     other than its default: the recorder's own document, not in the recording, gave it as a
     literal. The state kept is the matching request's (what Shopify was asked), else the
     first's, whose answer is judged. (product-variants-bulk-update-allow-partial-and-error-
     order's ``partialUpdate``: ``allowPartialUpdates: true``, which its notes name.)

  Any other difference (in an object the replay made from what the recording shows, in a request
  the twin refused, in a read that does not come to match) stays *differ*.

Differences the twin keeps on purpose live in :data:`ACCEPTED`, each with its reason; a test
fails when an exchange differs and is not listed, when a listed one has come to match, and when
a listed one is in an operation rackshop sends (a root field of a document under
``rackshop/shopify/documents``): none may be a mutation rackshop sends, and a query rackshop
sends only the twin's refusal of fields no rackshop document asks for
(:func:`accepted_on_what_rackshop_sends`).
``python -m tests.sandbox.test_shopify_replay`` prints the figures and every difference.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Undefined,
    Visitor,
    build_schema,
    coerce_input_value,
    get_named_type,
    introspection_types,
    parse,
    print_ast,
    value_from_ast,
    visit,
)

from rackshop.sandbox.base import Clock, Request
from rackshop.sandbox.shopify import ShopifyTwin
from rackshop.sandbox.shopify.state import ShopState
from rackshop.shopify.client import document_names, load_document

SHOP = "harry-test-heelo"
TOKEN = "shpat_replay"
_OPAQUE = r"(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/" + _OPAQUE + r"(\?.*)?$")
_GID_IN_TEXT = re.compile(r"gid://shopify/[A-Za-z]+/" + _OPAQUE + r"(?:\?inventory_item_id=\d+)?\b")
_NUMBER = re.compile(r"\b\d{6,}\b")
_ORDER_NAME = re.compile(r"^#\d+$")
#: exchanges the replay cannot set up today (see test_not_set_up_does_not_grow)
NOT_SET_UP = 23
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TS_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
CURSOR_KEYS = frozenset({"cursor", "startCursor", "endCursor"})

#: (file, exchange path prefix, why the twin answers differently). Keep it short: every entry is
#: a way the twin is kinder (or harsher) than Shopify that rackshop's tests will not see.
ACCEPTED: list[tuple[str, str, str]] = [
    (
        "2025-01--product-set-parity.json",
        "upstreamCalls",
        "Location.addressVerified and Product.onlineStorePreviewUrl (a signed preview URL) are not"
        " modelled",
    ),
    (
        "2025-01--product-set-parity.json",
        "preExistingUpdate.",
        "the hydrate reads ask for Product.onlineStorePreviewUrl (a signed preview URL) and"
        " collections, which are not modelled",
    ),
    (
        "2025-01--product-set-parity.json",
        "downstreamRead",
        "it asks for Product.onlineStorePreviewUrl and collections, which are not modelled",
    ),
    (
        "2025-01--product-set-parity.json",
        "update.downstreamRead",
        "it asks for Product.onlineStorePreviewUrl and collections, which are not modelled",
    ),
    (
        "2025-01--product-variants-bulk-update-parity.json",
        "upstreamCalls",
        "Product.onlineStorePreviewUrl (a signed preview URL) is not modelled",
    ),
    (
        "2026-04--bulk-operation-run-query-concurrency-limit.json",
        "cancelAttempts",
        "objectCount: the recorded shop held 1451 products made before the recording",
    ),
    (
        "2026-04--product-variants-bulk-update-allow-partial-and-error-order.json",
        "upstreamCalls",
        "Product.onlineStorePreviewUrl (a signed preview URL) is not modelled",
    ),
    (
        "2026-04--webhook-subscription-conformance.json",
        "schemaAndAccess",
        "introspection of the twin's schema, a subset by design (WebhookSubscriptionInput without"
        " metafields, WebhookSubscriptionEndpoint with WebhookHttpEndpoint only, and"
        " WebhookSubscriptionTopic's values 2026-07's whatever the version asked: 225 where"
        " 2026-04 lists 222), and the app's access scopes (the twin grants a fixed list of 11;"
        " the recorded app held 87): a read only the recorder made",
    ),
]


def accepted(ex: Exchange) -> str | None:
    """Why a difference in this exchange is accepted, if it is."""
    for file, prefix, reason in ACCEPTED:
        if ex.file == file and ex.path.startswith(prefix):
            return reason
    return None


# -- reading the recordings -------------------------------------------------------------------


@dataclass
class Exchange:
    file: str
    path: str
    document: str | None
    variables: dict[str, Any]
    expected: dict[str, Any]
    status: int | None
    rebuilt: bool = False
    #: for an upstream call: the exchange it records again (the same request), whose twin answer
    #: it is compared with instead of sending the request a second time
    same_as: Exchange | None = None
    #: the document last sent for it and the twin's answer to it
    sent: str | None = None
    answer: dict[str, Any] | None = None


def _body(response: Any) -> dict[str, Any] | None:
    if not isinstance(response, dict):
        return None
    for key in ("payload", "body"):
        inner = response.get(key)
        if isinstance(inner, dict) and ("data" in inner or "errors" in inner):
            return inner
    if "data" in response or "errors" in response:
        return response
    return None


def _text(node: dict[str, Any]) -> str | None:
    for key in ("query", "document"):
        if isinstance(node.get(key), str):
            return str(node[key])
    return None


def _documents(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every document text in a recording, with the variables sent beside it."""
    if isinstance(node, list):
        return [d for item in node for d in _documents(item)]
    if not isinstance(node, dict):
        return []
    text = _text(node)
    sent = node.get("variables")
    own = [(text, sent if isinstance(sent, dict) else {})] if text else []
    return own + [d for v in node.values() for d in _documents(v)]


def exchanges(name: str, rec: Any) -> list[Exchange]:
    """Every exchange of one recording, in the file's order."""
    found: list[Exchange] = []

    def walk(node: Any, path: str, doc: str | None, variables: dict[str, Any] | None) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]", doc, variables)
            return
        if not isinstance(node, dict):
            return
        sent: dict[str, Any] = node["request"] if isinstance(node.get("request"), dict) else node
        own_doc = _text(sent) or _text(node)
        own_vars = next(
            (
                v
                for k, v in sent.items()
                if k.endswith(("variables", "Variables")) and isinstance(v, dict)
            ),
            None,
        )
        doc_here = own_doc or doc
        vars_here = own_vars if own_vars is not None else variables
        if path and ("data" in node or "errors" in node) and "extensions" in node:
            found.append(Exchange(name, path, None, {}, node, None))
            return
        own = "response" in node and _body(node["response"]) is not None
        for key, value in node.items():
            if key in ("query", "document", "request") or key.endswith(("variables", "Variables")):
                continue
            if key == "response" and own:
                # this node's own exchange, in the file's order among its neighbours (a case's
                # setup before it, its cleanup after it)
                status = value.get("status") if isinstance(value.get("status"), int) else None
                if status is None and isinstance(node.get("status"), int):
                    status = node["status"]
                exchange = Exchange(
                    name,
                    path or "(top)",
                    doc_here,
                    dict(vars_here or {}),
                    _body(value) or {},
                    status,
                )
                found.append(exchange)
                continue
            # an exchange nested beside this node's own (a setup step, a cleanup) has its own
            # document or none: this node's belongs to its own response only
            beside = node.get(f"{key}Variables")  # `downstreamRead` and `downstreamReadVariables`
            walk(
                value,
                f"{path}.{key}" if path else key,
                doc if own else doc_here,
                beside if isinstance(beside, dict) else variables if own else vars_here,
            )

    walk(rec, "", None, None)
    return found


# -- rebuilding a document from an answer's shape -----------------------------------------------


class CannotBuild(Exception):
    """The answer's shape does not say which document produced it."""


def _root_names(document: str) -> set[str] | None:
    try:
        doc = parse(document)
    except Exception:
        return None
    names: set[str] = set()
    for d in doc.definitions:
        sel = getattr(d, "selection_set", None)
        if getattr(d, "operation", None) is None or sel is None:
            continue
        for s in sel.selections:
            named = getattr(s, "alias", None) or getattr(s, "name", None)
            names.add(named.value if named is not None else "")
    return names


def _merge(items: list[Any]) -> Any:
    merged: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            for k, v in item.items():
                if k not in merged or merged[k] in (None, [], {}):
                    merged[k] = v
    return merged


def _gids(node: Any) -> list[str]:
    """Every gid in a structure, in order."""
    return list(dict.fromkeys(_GID_IN_TEXT.findall(json.dumps(node))))


def _find_key(node: Any, key: str) -> Any:
    """The value under ``key`` nearest the top of an answer (breadth first), or None."""
    level = [node]
    while level:
        nxt: list[Any] = []
        for n in level:
            if isinstance(n, dict):
                if key in n:
                    return n[key]
                nxt += list(n.values())
            elif isinstance(n, list):
                nxt += n
        level = nxt
    return None


class _Inputs:
    """A mutation's arguments read back from its answer, for a recording that kept the answer
    but neither the document nor the variables: every input field the answer shows under the
    same name (a connection's nodes for a list), an ``…Id`` from a gid of that type in the
    answer or the exchange's path. Ids are only sent when the replay already knows them: an id
    first met in this answer is what the mutation made, not what it was given; for such an
    object, what the rest of the recording shows of it fills in what this answer leaves out (a
    product's status read later)."""

    def __init__(
        self, payload: Any, hints: list[str], known: Any, view: Any = lambda gid: {}
    ) -> None:
        self.payload = payload
        self.gids = _gids(payload) + hints
        self.known = known
        #: what the recording shows elsewhere of an object (for one this mutation made)
        self.view = view
        #: input fields the answer shows a value for that could not be read back into input (a
        #: shape the input type does not take: ``category {id fullName}`` for an ``ID``)
        self.missed: set[str] = set()

    def _made(self, value: Any) -> bool:
        """Whether a value is the id of an object this mutation made (never sent, by design)."""
        return isinstance(value, str) and bool(_GID_IN_TEXT.fullmatch(value)) and not self.known(
            value
        )

    def _gid_of(self, type_name: str) -> str | None:
        for gid in self.gids:
            if gid.split("/")[3] == type_name and self.known(gid):
                return gid
        return None

    def _id(self, name: str, context: str) -> str | None:
        if name.endswith("Id") and name != "Id":
            return self._gid_of(name[0].upper() + name[1:-2])
        if name == "id":
            kinds = sorted({g.split("/")[3] for g in self.gids}, key=len, reverse=True)
            for kind in kinds:
                if context.startswith(kind):
                    return self._gid_of(kind)
        return None

    def value(self, name: str, type_: Any, source: Any, context: str) -> Any:
        """The value of one argument or input field, or None when the answer does not say."""
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            if isinstance(source, dict):
                source = source.get("nodes", source.get("edges"))
            if not isinstance(source, list):
                return None
            items = [self.value(name, inner.of_type, s, context) for s in source]
            return items if items and all(i is not None for i in items) else None
        if isinstance(inner, GraphQLInputObjectType):
            if not isinstance(source, dict):
                return None
            made = source.get("id")
            if isinstance(made, str) and _GID_IN_TEXT.fullmatch(made) and not self.known(made):
                # an object this mutation made: what the rest of the recording shows of it too
                source = _deep_merge([source, self.view(made)])
            out = {}
            for fname, f in inner.fields.items():
                got = self.value(fname, f.type, _shown_for(fname, f.type, source), inner.name)
                if got is None and _is_id(f.type) and fname not in source:
                    got = self._id(fname, inner.name)
                shown = source.get(fname)
                if got is None and _shows(shown) and not _is_id(f.type):
                    # shown in a shape the input does not take: the answer's field whose name
                    # ends so may hold it in that shape (``optionValues [{name}]`` beside
                    # ``values ["Red"]``), as for a root argument
                    cap = fname[0].upper() + fname[1:]
                    got = next(
                        (
                            read
                            for k, v in source.items()
                            if k.endswith(cap)
                            and (read := self.value(fname, f.type, v, inner.name)) is not None
                        ),
                        None,
                    )
                if got is None and _shows(shown) and not self._made(shown):
                    self.missed.add(f"{inner.name}.{fname}")
                if got is not None:
                    out[fname] = got
                elif isinstance(f.type, GraphQLNonNull) and _default_of(f) is Undefined:
                    return None
            return out or None
        if isinstance(inner, GraphQLEnumType):
            return source if isinstance(source, str) and source in inner.values else None
        if _is_id(inner):
            if isinstance(source, dict) and isinstance(source.get("id"), str):
                source = source["id"]  # ``category {id fullName}`` for ``category: ID``
                if not _GID_IN_TEXT.fullmatch(source):
                    return source  # an id the shop does not make (``TaxonomyCategory/aa-1-1``)
            if isinstance(source, str) and _GID_IN_TEXT.fullmatch(source):
                return source if self.known(source) else None
            return None
        if isinstance(source, dict | list):
            return None
        return source

    def argument(self, aname: str, arg: Any, root: str) -> Any:
        # the answer's own key of that name, else one ending so (`productVariants` for
        # `variants`), else the name deeper in the answer
        source = self.payload.get(aname)
        if source is None and aname != "input":
            cap = aname[0].upper() + aname[1:]
            source = next((v for k, v in self.payload.items() if k.endswith(cap)), None)
        if source is None:
            source = _find_key(self.payload, aname)
        got = self.value(aname, arg.type, source, root)
        if got is None and _is_id(arg.type):
            got = self._id(aname, root)
        if got is None and isinstance(arg.type, GraphQLNonNull):
            named = get_named_type(arg.type)
            if isinstance(named, GraphQLInputObjectType):
                # the answer's subject (its first object), else the answer itself
                subject = next(
                    (v for v in self.payload.values() if isinstance(v, dict)), self.payload
                )
                got = self.value(aname, arg.type, subject, named.name) or self.value(
                    aname, arg.type, self.payload, named.name
                )
        return got


#: an input type the answer shows under another field, in another shape: the field, and for
#: each input field the shown field it is read from (a variant's ``selectedOptions`` are the
#: ``optionValues`` it was given, as the replay sends them when it makes a variant)
_SHOWN_AS: dict[str, tuple[str, dict[str, str]]] = {
    "VariantOptionValueInput": ("selectedOptions", {"optionName": "name", "name": "value"}),
}


def _shown_for(name: str, type_: Any, source: dict[str, Any]) -> Any:
    """What an answer object shows for one of its input fields: the field of the same name;
    for an input type listed in :data:`_SHOWN_AS` not shown so, the field it is shown as; for a
    nested input object, the nested object with the scalars the answer shows beside it under
    the nested input's names (``sku`` on a variant is ``inventoryItem.sku``: Shopify answers
    ``ProductVariant.sku`` from its inventory item)."""
    shown = source.get(name)
    named = get_named_type(type_)
    if shown is None and named.name == "ProductSetInventoryInput":
        return _levels_shown(source) or None
    if shown is None and named.name in _SHOWN_AS:
        key, names = _SHOWN_AS[named.name]
        items = source.get(key)
        if isinstance(items, list) and all(isinstance(i, dict) for i in items):
            return [{k: i.get(v) for k, v in names.items()} for i in items] or None
        return None
    if not isinstance(named, GraphQLInputObjectType) or isinstance(shown, list):
        return shown
    beside = {
        k: source[k]
        for k, f in named.fields.items()
        if k in source
        and not _is_id(f.type)
        and not isinstance(source[k], dict | list)
        and source[k] is not None
        and not (isinstance(shown, dict) and k in shown)
    }
    if not beside:
        return shown
    return {**(shown if isinstance(shown, dict) else {}), **beside}


def _levels_shown(variant: dict[str, Any]) -> list[dict[str, Any]]:
    """A variant's ``inventoryQuantities`` as its answer shows them: the ``available``
    quantity of each level of its inventory item (as the replay stocks a variant it makes)."""
    item = variant.get("inventoryItem")
    levels = (item.get("inventoryLevels") or {}) if isinstance(item, dict) else {}
    out = []
    for level in levels.get("nodes") or []:
        location = (level.get("location") or {}).get("id") if isinstance(level, dict) else None
        available = next(
            (
                q.get("quantity")
                for q in level.get("quantities") or []
                if isinstance(q, dict) and q.get("name") == "available"
            ),
            None,
        )
        if location and available is not None:
            out.append({"locationId": location, "name": "available", "quantity": available})
    return out


def _shows(value: Any) -> bool:
    """Whether an answer's value shows something (an empty connection shows nothing)."""
    if isinstance(value, dict) and isinstance(value.get("nodes", value.get("edges")), list):
        value = value.get("nodes", value.get("edges"))
    return value not in (None, [], {}, "")


def _default_of(arg: Any) -> Any:
    """An argument's or input field's default value (graphql-core 3.3 keeps a schema's defaults
    in ``default``, as a value or a literal), or ``Undefined``."""
    if arg.default_value is not Undefined:
        return arg.default_value
    given = getattr(arg, "default", None)
    if given is None:
        return Undefined
    if getattr(given, "value", Undefined) is not Undefined:
        return given.value
    literal = getattr(given, "literal", None)
    return value_from_ast(literal, arg.type) if literal is not None else Undefined


def _is_id(type_: Any) -> bool:
    named = get_named_type(type_)
    return (
        isinstance(named, GraphQLScalarType)
        and named.name == "ID"
        and not isinstance(
            type_.of_type if isinstance(type_, GraphQLNonNull) else type_, GraphQLList
        )
    )


class _Builder:
    def __init__(
        self, schema: GraphQLSchema, variables: dict[str, Any], inputs: _Inputs | None = None
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.used: dict[str, str] = {}
        #: a mutation's arguments taken from its answer (when nothing sent was recorded)
        self.inputs = inputs

    def args(self, fname: str, fdef: GraphQLField, value: Any, root: bool = False) -> str:
        parts = []
        for aname, arg in fdef.args.items():
            derived = None
            if aname not in self.variables and root and self.inputs is not None:
                derived = self.inputs.argument(aname, arg, fname[0].upper() + fname[1:])
                if derived is not None:
                    self.variables[aname] = derived
            if aname in self.variables:
                self.used[aname] = str(arg.type)
                parts.append(f"{aname}: ${aname}")
            elif aname == "names" and fname == "quantities" and isinstance(value, list):
                names = [v.get("name") for v in value if isinstance(v, dict)]
                parts.append(f"names: {json.dumps(names)}")
            elif aname == "first" and self._connection(fdef):
                page = value.get("pageInfo") if isinstance(value, dict) else None
                items = (value.get("nodes") or value.get("edges") or []) if value else []
                more = isinstance(page, dict) and page.get("hasNextPage")
                parts.append(f"first: {max(len(items), 1) if more else 250}")
            elif aname == "id" and isinstance(value, dict) and isinstance(value.get("id"), str):
                parts.append(f"id: {json.dumps(value['id'])}")
            elif aname == "id" and f"{fname}Id" in self.variables:  # product(id: $productId)
                self.used[f"{fname}Id"] = str(arg.type)
                parts.append(f"id: ${fname}Id")
            elif (
                isinstance(value, dict)
                and isinstance(value.get(aname), str | int)
                and isinstance(get_named_type(arg.type), GraphQLScalarType)
            ):  # metafield(namespace:, key:) from the namespace and key it answered
                parts.append(f"{aname}: {json.dumps(value[aname])}")
            elif isinstance(arg.type, GraphQLNonNull) and _default_of(arg) is Undefined:
                raise CannotBuild(
                    f"{fname} needs {aname}, a required argument the recording does not hold:"
                    + (
                        " its answer does not show it (nothing sent was recorded)"
                        if root and self.inputs is not None
                        else " no recorded variable gives it, so the recorder's document, which"
                        " is not in the recording, gave it as a literal"
                    )
                )
        return f"({', '.join(parts)})" if parts else ""

    @staticmethod
    def _connection(fdef: GraphQLField) -> bool:
        t = get_named_type(fdef.type)
        return isinstance(t, GraphQLObjectType) and "pageInfo" in t.fields

    def selection(self, value: Any, type_: Any) -> str:
        named = get_named_type(type_)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            return ""
        if isinstance(value, list):
            value = _merge(value)
        if not isinstance(value, dict) or not value:
            if isinstance(named, GraphQLUnionType):
                return "{ __typename }"
            fields = named.fields
            picked = [f for f in ("id", "field", "message", "code") if f in fields]
            return "{ " + " ".join(picked or ["__typename"]) + " }"
        typename = value.get("__typename")
        owner: Any = named
        if isinstance(named, GraphQLUnionType | GraphQLInterfaceType) and typename:
            owner = self.schema.get_type(str(typename))
            if owner is None:
                raise CannotBuild(f"unknown type {typename}")
        if isinstance(owner, GraphQLUnionType):
            raise CannotBuild(f"{named.name} answered without __typename")
        parts = []
        for key, sub in value.items():
            if key == "__typename":
                parts.append(key)
                continue
            fdef = owner.fields.get(key)
            if fdef is None:
                raise CannotBuild(f"{owner.name}.{key} is not a field (an alias?)")
            parts.append(key + self.args(key, fdef, sub) + " " + self.selection(sub, fdef.type))
        body = " ".join(parts)
        if owner is not named:
            return f"{{ ... on {owner.name} {{ {body} }} }}"
        return "{ " + body + " }"

    def _field_of(self, root: GraphQLObjectType, key: str, value: Any) -> str | None:
        """The root field an answer's key stands for: itself, or for an alias the field named
        after the type of the id it answered (``stockOne: {id: "gid://shopify/InventoryItem/…"}``
        is ``inventoryItem``), or ``__type`` for an alias that is a type's name with its first
        letter lowered and answers what ``__Type`` has (``inventoryChangeInput: {inputFields:
        […]}`` is ``__type(name: "InventoryChangeInput")``)."""
        if key in root.fields:
            return key
        if root is self.schema.query_type and isinstance(value, dict) and value:
            named = self.schema.get_type(key[:1].upper() + key[1:])
            if named is not None and set(value) <= set(introspection_types["__Type"].fields):
                return "__type"
        gid = value.get("id") if isinstance(value, dict) else None
        m = _GID.match(gid) if isinstance(gid, str) else None
        if m is None:
            return None
        name = m.group(1)[0].lower() + m.group(1)[1:]
        fdef = root.fields.get(name)
        return name if fdef is not None and "id" in fdef.args else None

    def document(self, data: dict[str, Any], errors: Any = None) -> str:
        #: the answer says the request came without the directive its variable is for
        self.refused = "@idempotent directive is required" in json.dumps(errors)
        ops = [("mutation", self.schema.mutation_type), ("query", self.schema.query_type)]
        for keyword, root in ops:  # noqa: B007 (used after the loop)
            if root is not None and data and all(self._field_of(root, k, data[k]) for k in data):
                break
        else:
            raise CannotBuild(
                f"root fields {sorted(data)} are not all of one root type (aliases that name"
                " neither a gid's type nor a type's introspection)"
            )
        assert root is not None
        directive = ""
        if keyword == "mutation" and "idempotencyKey" in self.variables and not self.refused:
            self.used["idempotencyKey"] = "String!"
            directive = " @idempotent(key: $idempotencyKey)"
        if keyword != "mutation":
            self.inputs = None
        parts = []
        for key, value in data.items():
            name = self._field_of(root, key, data[key])
            assert name is not None
            if name == "__type":
                head = f'{key}: __type(name: "{key[:1].upper() + key[1:]}")'
                parts.append(f"{head} {self.selection(value, introspection_types['__Type'])}")
                continue
            fdef = root.fields[name]
            if name == key:
                head = key + self.args(key, fdef, value, root=True)
            else:  # an alias asks for the id it answered
                head = f"{key}: {name}(id: {json.dumps(value['id'])})"
            parts.append(f"{head}{directive} {self.selection(value, fdef.type)}")
        defs = ", ".join(f"${k}: {t}" for k, t in self.used.items())
        return f"{keyword} Replay{f'({defs})' if defs else ''} {{ {' '.join(parts)} }}"


def rebuild(
    schema: GraphQLSchema,
    expected: dict[str, Any],
    variables: dict[str, Any],
    inputs: _Inputs | None = None,
) -> str:
    """A document for the answer's shape; arguments from ``variables`` (to which those read
    back by ``inputs`` are added)."""
    data = expected.get("data")
    if not isinstance(data, dict):
        return _refused_variables(schema, expected.get("errors"), variables)
    return _Builder(schema, variables, inputs).document(data, expected.get("errors"))


def _accepts(type_: Any, value: Any) -> bool:
    """Whether a variable's value is one of this type (what the other variables sent say)."""
    try:
        return coerce_input_value(value, type_) is not Undefined
    except Exception:
        return False


_BAD_VARIABLE = re.compile(r"^Variable \$(\w+) of type (\S+) was provided invalid value")


def _refused_variables(schema: GraphQLSchema, errors: Any, variables: dict[str, Any]) -> str:
    """A document for an answer that refused a variable (``Variable $input of type
    InventorySetQuantitiesInput! was provided invalid value…``): the one root field with an
    argument of that type, taking every variable sent as its argument of the same name."""
    refused = [
        m
        for e in errors or []
        if isinstance(e, dict) and (m := _BAD_VARIABLE.match(str(e.get("message") or "")))
    ]
    if not refused or not variables:
        raise CannotBuild(
            "the answer is a GraphQL error with no data to take the shape from, and names no"
            " refused variable: the document it rejects is not in the recording"
        )
    name, type_name = refused[0].groups()
    fields = [
        (keyword, fname, fdef)
        for keyword, root in (("mutation", schema.mutation_type), ("query", schema.query_type))
        if root is not None
        for fname, fdef in root.fields.items()
        if name in fdef.args and str(fdef.args[name].type) == type_name
    ]
    sent = {k for k in variables if k != "idempotencyKey"}
    fields = [
        f
        for f in fields
        if sent <= set(f[2].args)
        and all(_accepts(f[2].args[k].type, variables[k]) for k in sent - {name})
    ]
    if len(fields) != 1:
        raise CannotBuild(f"${name} of type {type_name} fits {len(fields)} root fields")
    keyword, fname, fdef = fields[0]
    defs = [f"${k}: {fdef.args[k].type}" for k in sorted(sent)]
    directive = ""
    if keyword == "mutation" and "idempotencyKey" in variables:
        defs.append("$idempotencyKey: String!")
        directive = " @idempotent(key: $idempotencyKey)"
    args = ", ".join(f"{k}: ${k}" for k in sorted(sent))
    return f"{keyword} Replay({', '.join(defs)}) {{ {fname}({args}){directive} {{ __typename }} }}"


# -- comparing ----------------------------------------------------------------------------------


class Ids:
    """Recorded gid <-> twin gid, learned as they appear."""

    def __init__(self) -> None:
        self.to_twin: dict[str, str] = {}
        self.to_recorded: dict[str, str] = {}
        #: the numbers of paired gids, for ids written bare in text (``location_id:123``)
        self.numbers: dict[str, str] = {}
        #: recorded cursor -> the twin's cursor at the same place
        self.cursors: dict[str, str] = {}

    def pair(self, recorded: str, twin: str) -> str | None:
        known = self.to_twin.get(recorded)
        if known not in (None, twin):
            return f"recorded {recorded} was twin {known}, now {twin}"
        back = self.to_recorded.get(twin)
        if back not in (None, recorded):
            return f"twin {twin} stands for {back} and {recorded}"
        self.to_twin[recorded] = twin
        self.to_recorded[twin] = recorded
        if recorded.startswith("gid://") and "?" not in recorded + twin:
            self.numbers[recorded.rsplit("/", 1)[1]] = twin.rsplit("/", 1)[1]
        return None

    def translate(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.translate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.translate(v) for v in value]
        if isinstance(value, str):
            if value in self.cursors:
                return self.cursors[value]
            if _GID_IN_TEXT.fullmatch(value):
                return self.to_twin.get(value, value)
            return _NUMBER.sub(lambda m: self.numbers.get(m.group(0), m.group(0)), value)
        return value


def _strip(body: dict[str, Any], rebuilt: bool) -> dict[str, Any]:
    out = dict(body)
    ext = dict(out.get("extensions") or {})
    ext.pop("cost", None)
    if ext:
        out["extensions"] = ext
    else:
        out.pop("extensions", None)
    if isinstance(out.get("errors"), list):
        errors = []
        for e in out["errors"]:
            if isinstance(e, dict):
                e = dict(e)
                if isinstance(e.get("extensions"), dict):
                    e["extensions"] = {k: v for k, v in e["extensions"].items() if k != "requestId"}
                if rebuilt:
                    e.pop("locations", None)
            errors.append(e)
        out["errors"] = errors
    return out


def differences(actual: Any, expected: Any, ids: Ids, path: str = "") -> list[str]:
    """Where a twin answer departs from a recorded one (ids paired as a side effect)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {_short(actual)} != recorded object"]
        out = []
        for k in sorted(set(expected) - set(actual)):
            out.append(f"{path}.{k}: missing (recorded {_short(expected[k])})")
        for k in sorted(set(actual) - set(expected)):
            out.append(f"{path}.{k}: extra {_short(actual[k])}")
        for k in expected:
            if k in actual:
                out += differences(actual[k], expected[k], ids, f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: {_short(actual)} != recorded list {_short(expected)}"]
        if len(actual) != len(expected):
            return [
                f"{path}: {len(actual)} items != recorded {len(expected)}: {_short(actual)}"
                f" vs {_short(expected)}"
            ]
        out = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            out += differences(a, e, ids, f"{path}[{i}]")
        return out
    key = path.rsplit(".", 1)[-1]
    if key in CURSOR_KEYS:
        if (actual is None) != (expected is None):
            return [f"{path}: {_short(actual)} != recorded {_short(expected)}"]
        if isinstance(expected, str) and isinstance(actual, str):
            ids.cursors[expected] = actual  # a recorded cursor sent back later means this one
        return []
    if isinstance(expected, str) and _GID.match(expected):
        m = _GID.match(actual) if isinstance(actual, str) else None
        if m is None or m.group(1) != _GID.match(expected).group(1):  # type: ignore[union-attr]
            return [f"{path}: {_short(actual)} != recorded {expected}"]
        problem = ids.pair(expected, actual)
        return [f"{path}: {problem}"] if problem else []
    if key == "name" and isinstance(expected, str) and _ORDER_NAME.match(expected):
        if not (isinstance(actual, str) and _ORDER_NAME.match(actual)):
            return [f"{path}: {_short(actual)} is not an order name (recorded {expected})"]
        problem = ids.pair(expected, actual)
        return [f"{path}: {problem}"] if problem else []
    if isinstance(expected, str) and _TS.match(expected):
        if not (isinstance(actual, str) and _TS.match(actual)):
            return [f"{path}: {_short(actual)} is not a timestamp (recorded {expected})"]
        return []
    if isinstance(expected, str) and (_GID_IN_TEXT.search(expected) or _NUMBER.search(expected)):
        expected = ids.translate(expected)
    if _number(actual) and _number(expected) and actual == expected:
        return []  # the recorder (JavaScript) wrote a whole Float as an Int: 0.0 as 0
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: {_short(actual)} != recorded {_short(expected)}"]
    return []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


# -- replaying --------------------------------------------------------------------------------


@dataclass
class Outcome:
    exchange: Exchange
    verdict: str  # "match", "differ", "not set up"
    notes: list[str] = field(default_factory=list)


class Replay:
    """One recording replayed against a fresh twin through its HTTP handler."""

    def __init__(self, name: str, rec: Any, schema: GraphQLSchema, found: list[Exchange]) -> None:
        self.name = name
        #: every answer of the recording, in order: what it shows of an object made before it
        self.answers = [ex.expected for ex in found]
        #: recorded gids Shopify answered with somewhere in the recording (objects that exist)
        self.existing = set(_GID_IN_TEXT.findall(json.dumps(self.answers)))
        #: recorded gid -> the exchange whose mutation made it (in its answer, not in what it sent)
        self.made_by: dict[str, Exchange] = {}
        for ex in found:
            data = ex.expected.get("data")
            mutation = self.schema_has_mutation(schema, data)
            for gid in _GID_IN_TEXT.findall(json.dumps(data)) if mutation else []:
                if gid not in json.dumps(ex.variables) + (ex.document or ""):
                    self.made_by.setdefault(gid, ex)
        self.order = {id(ex): i for i, ex in enumerate(found)}
        #: recorded gid -> where in the recording a request sends it (its position)
        self.sent_at: dict[str, list[int]] = {}
        for i, ex in enumerate(found):
            for gid in _GID_IN_TEXT.findall(json.dumps(ex.variables) + (ex.document or "")):
                self.sent_at.setdefault(gid, []).append(i)
        #: recorded gid -> the first exchange whose answer shows it
        self.first_shown: dict[str, Exchange] = {}
        for ex in found:
            for gid in _GID_IN_TEXT.findall(json.dumps(ex.expected)):
                self.first_shown.setdefault(gid, ex)
        #: recorded gid -> why the twin's object for it is not the recorded one (made by a request
        #: the recording does not hold)
        self.unset: dict[str, str] = {}
        #: the document each exchange was sent with
        self.sent: dict[int, str] = {}
        #: exchanges sent whose verdict is "not set up" (an upstream call repeating one follows it)
        self.unset_exchanges: set[int] = set()
        #: the twin's answer to each exchange sent (for an upstream call that records it again)
        self.answered: dict[int, tuple[dict[str, Any], bool]] = {}
        self.rec = rec
        self.schema = schema
        self.version = name.split("--", 1)[0]
        #: twin-seconds, moved by the time the recording shows passing between its answers
        self.elapsed = 0.0
        self.recorded_time: float | None = None
        self.twin = ShopifyTwin(Clock(monotonic=lambda: self.elapsed))
        self.ids = Ids()
        self.seen: set[str] = set()  # recorded gids met in answers
        #: every document the recording holds, for an answer kept apart from its document
        self.documents = _documents(rec)
        self._admin(
            "shops",
            {
                "name": SHOP,
                "token": TOKEN,
                "plan": "plus",
                "currency": "CAD",
                "taxes_included": False,
                "locations": ["Shop location"],
                "domain": f"{SHOP}.myshopify.com",
            },
        )
        # Shopify as it is: search and derived totals trail writes, bulk operations take time.
        self._admin("consistency", {"enabled": True})

    @staticmethod
    def schema_has_mutation(schema: GraphQLSchema, data: Any) -> bool:
        root = schema.mutation_type
        return isinstance(data, dict) and root is not None and any(k in root.fields for k in data)

    def _advance(self, ex: Exchange) -> None:
        """Move the twin's clock by the time the recording shows passing before this answer:
        the latest timestamp it holds, past the latest of the answers before it (an answer is
        given no earlier than anything it reports)."""
        stamps = [
            datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
            for t in _TS_IN_TEXT.findall(json.dumps(ex.expected))
        ]
        if not stamps:
            return
        latest = max(stamps)
        if self.recorded_time is not None and latest > self.recorded_time:
            self.elapsed += latest - self.recorded_time
        if self.recorded_time is None or latest > self.recorded_time:
            self.recorded_time = latest

    def _request(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Request:
        msg = Message()
        for k, v in (headers or {}).items():
            msg[k] = v
        return Request("POST", path, {}, msg, json.dumps(body).encode())

    def _admin(self, action: str, body: dict[str, Any]) -> Any:
        with self.twin.lock:
            resp = self.twin.admin(self._request(f"/__sandbox/{action}", body), action)
        assert resp is not None and resp.status == 200, (action, resp)
        return resp.body

    def _graphql(self, query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.elapsed += 0.001  # a request takes time: a write is never at the instant of the last
        req = self._request(
            f"/shops/{SHOP}/admin/api/{self.version}/graphql.json",
            {"query": query, "variables": variables},
            {"X-Shopify-Access-Token": TOKEN, "Content-Type": "application/json"},
        )
        with self.twin.lock:
            resp = self.twin.handle(req)
        body = resp.body if isinstance(resp.body, dict) else json.loads(resp.body)
        return resp.status, body

    def _name_of(self, gid: str) -> str | None:
        return next(
            (
                str(d["name"])
                for d in _dicts(self.rec)
                if d.get("id") == gid and isinstance(d.get("name"), str)
            ),
            None,
        )

    def _shown_before_sent(self, ex: Exchange, document: str) -> None:
        """Make what a read shows first and a later request of the recording sends, that no
        mutation of the recording made: an object made before the recording, which the
        recording relies on (a product looked up, then named in an order's line). Made from
        what the recording shows of it, as an object sent before being met is; one that cannot
        be made is left to the read's verdict."""
        if (_root_names(document) or set()) & set(
            self.schema.mutation_type.fields if self.schema.mutation_type else ()
        ):
            return
        at = self.order[id(ex)]
        for gid in dict.fromkeys(_GID_IN_TEXT.findall(json.dumps(ex.expected))):
            if (
                gid in self.seen
                or gid in self.ids.to_twin
                or gid in self.made_by
                or not any(i > at for i in self.sent_at.get(gid, ()))
            ):
                continue
            kind = gid.split("/")[3]
            if kind == "Location":
                self._location(gid)
            elif kind in ("Product", "ProductVariant", "InventoryItem"):
                self._product(gid)
            elif kind in ("Order", "LineItem", "OrderTransaction"):
                self._order(gid)

    def _prepare(self, ex: Exchange, document: str) -> str | None:
        """Create what the exchange refers to before it was met; a reason if it cannot."""
        self._shown_before_sent(ex, document)
        sent = json.dumps(ex.variables) + document
        answer = json.dumps(ex.expected)
        for gid in dict.fromkeys(_GID_IN_TEXT.findall(sent)):
            if gid in self.ids.to_twin:
                continue
            kind = gid.split("/")[3]
            if kind == "Location" and (self._name_of(gid) or gid in self.existing):
                self._location(gid)
            elif (gid in answer or gid in self.existing) and gid not in self.seen:
                maker = self.made_by.get(gid)
                if maker is not None and self.order[id(maker)] > self.order[id(ex)]:
                    return (
                        f"{gid} is made later in the recording ({maker.path}): this exchange is"
                        " kept out of its order"
                    )
                if kind in ("Product", "ProductVariant", "InventoryItem"):
                    problem = self._product(gid)
                elif kind in ("Order", "LineItem", "OrderTransaction"):
                    problem = self._order(gid)
                else:
                    problem = "no way to make it through the API from what the recording shows"
                if problem:
                    return f"{gid} was made outside the recording: {problem}"
        return None

    def _location(self, gid: str) -> str:
        """The twin's location for a recorded one, made (through the admin API, named as the
        recording names it) the first time it is needed."""
        if gid in self.ids.to_twin:
            return self.ids.to_twin[gid]
        name = self._name_of(gid) or f"Location {len(self.ids.to_twin) + 1}"
        shop = self.twin.shop(SHOP)
        existing = shop.location_by_name_or_gid(name)
        if existing is None or existing["id"] in self.ids.to_recorded:
            self._admin("locations", {"shop": SHOP, "name": name})
            existing = shop.location_by_name_or_gid(name)
        assert existing is not None
        self.ids.pair(gid, str(existing["id"]))
        return str(existing["id"])

    def _view(self, gid: str) -> dict[str, Any]:
        """Everything the recording's answers show of one object, the earliest answer first."""
        return _deep_merge([d for d in _dicts(self.answers) if d.get("id") == gid])

    def _holder(self, key: str, gid: str) -> str | None:
        """The id of the object of the recording whose ``key`` is the object ``gid``."""
        for node in _dicts(self.answers):
            inner = node.get(key)
            members = inner.get("nodes") if isinstance(inner, dict) else None
            if "id" in node and (
                (isinstance(inner, dict) and inner.get("id") == gid)
                or (
                    isinstance(members, list)
                    and any(isinstance(n, dict) and n.get("id") == gid for n in members)
                )
            ):
                return str(node["id"])
        return None

    def _product(self, gid: str) -> str | None:
        """Make, with one productSet, the product a recorded product, variant or inventory item
        belongs to, from what the recording's answers show of it (title, options, each
        variant's options, SKU, price, tracking and available quantities per location), and
        pair the recorded ids with the twin's. A reason if the recording shows too little."""
        kind = gid.split("/")[3]
        variant_gid = self._holder("inventoryItem", gid) if kind == "InventoryItem" else gid
        if kind == "Product":
            product_gid: str | None = gid
        elif variant_gid is not None:
            product_gid = self._holder("product", variant_gid) or self._holder(
                "variants", variant_gid
            )
            if product_gid is None:
                product_gid = self._view(variant_gid).get("product", {}).get("id")
        else:
            product_gid = None
        product = self._view(product_gid) if product_gid else {}
        listed = (product.get("variants") or {}).get("nodes") or []
        variant_ids = [v["id"] for v in listed if isinstance(v, dict) and "id" in v]
        if not variant_ids and variant_gid:
            variant_ids = [variant_gid]
        variants: list[dict[str, Any]] = []
        items: list[str | None] = []
        for vid in variant_ids:
            v = self._view(vid)
            item = v.get("inventoryItem") or {}
            if kind == "InventoryItem" and not item and len(variant_ids) == 1:
                item = {"id": gid}
            item = self._view(item["id"]) if item.get("id") else item
            items.append(item.get("id"))
            variants.append(self._variant_input(v, item))
        if not variants and kind == "InventoryItem":
            item = self._view(gid)
            items.append(gid)
            variants.append(self._variant_input({}, item))
        if not variants and kind == "Product":
            # shown by its id alone: a product as Shopify makes one, with its standalone variant
            variants.append({"optionValues": [{"optionName": "Title", "name": "Default Title"}]})
            items.append(None)
        if not variants:
            return "the recording shows none of its variants"
        given: dict[str, Any] = {
            "title": product.get("title") or f"Replay product {len(self.ids.to_twin) + 1}",
            "variants": variants,
        }
        for key in ("status", "vendor", "productType", "descriptionHtml"):
            if product.get(key) is not None:
                given[key] = product[key]
        if isinstance(product.get("tags"), list):
            given["tags"] = product["tags"]
        options = _options_input(product, variants)
        if options:
            given["productOptions"] = options
        status, got = self._graphql(
            "mutation Make($input: ProductSetInput!) { productSet(input: $input, synchronous: true)"
            " { product { id variants(first: 250) { nodes { id inventoryItem { id } } } }"
            " userErrors { field message } } }",
            {"input": given},
        )
        made = ((got.get("data") or {}).get("productSet") or {}).get("product")
        if status != 200 or not made:
            return f"productSet refused what the recording shows: {_short(got)}"
        if product_gid:
            self.ids.pair(product_gid, made["id"])
        for vid, item_gid, node in zip(
            variant_ids or [None], items, made["variants"]["nodes"], strict=False
        ):
            if vid:
                self.ids.pair(vid, node["id"])
            if item_gid:
                self.ids.pair(item_gid, node["inventoryItem"]["id"])
        return None if gid in self.ids.to_twin else "made, but not at the place the recording shows"

    def _order(self, gid: str) -> str | None:
        """Make, with orderCreate, an order (or the order of a line or transaction) from what
        the recording's answers show of it: its lines (title, quantity, unit price), shipping
        lines (price; a title if none is shown), transactions (kind, status, gateway, amount),
        financial status, e-mail and tags; pair the recorded ids with the twin's."""
        kind = gid.split("/")[3]
        key = {"LineItem": "lineItems", "OrderTransaction": "transactions"}.get(kind)
        order_gid = self._holder(key, gid) if key else gid
        if order_gid is None:
            return "the recording does not show the order it belongs to"
        order = self._view(order_gid)

        def money(node: Any) -> dict[str, Any] | None:
            shop_money = (node or {}).get("shopMoney")
            return {"shopMoney": shop_money} if isinstance(shop_money, dict) else None

        lines = [
            {
                "title": line.get("title") or f"Item {i + 1}",
                "quantity": line.get("quantity") or 1,
                "priceSet": money(line.get("originalUnitPriceSet")),
            }
            for i, line in enumerate((order.get("lineItems") or {}).get("nodes") or [])
        ]
        if not lines or any(line["priceSet"] is None for line in lines):
            return "the recording does not show its lines and their prices"
        given: dict[str, Any] = {"lineItems": lines}
        shipping = [
            {"title": ship.get("title") or "Shipping", "priceSet": money(ship["originalPriceSet"])}
            for ship in (order.get("shippingLines") or {}).get("nodes") or []
            if money(ship.get("originalPriceSet"))
        ]
        if shipping:
            given["shippingLines"] = shipping
        transactions = [
            {
                "kind": t["kind"],
                "status": t.get("status") or "SUCCESS",
                "gateway": t.get("gateway") or "manual",
                "amountSet": money(t.get("amountSet")),
            }
            for t in order.get("transactions") or []
            if isinstance(t, dict) and t.get("kind") and money(t.get("amountSet"))
        ]
        if transactions:
            given["transactions"] = transactions
        else:  # a status stands for the transactions it implies
            statuses = self.schema.get_type("OrderCreateFinancialStatus")
            status = order.get("displayFinancialStatus")
            if isinstance(statuses, GraphQLEnumType) and status in statuses.values:
                given["financialStatus"] = status
        for field_name in ("email", "tags", "note"):
            if order.get(field_name):
                given[field_name] = order[field_name]
        code, got = self._graphql(
            "mutation Make($order: OrderCreateOrderInput!) { orderCreate(order: $order) {"
            " order { id lineItems(first: 250) { nodes { id } } transactions { id } }"
            " userErrors { field message } } }",
            {"order": given},
        )
        made = ((got.get("data") or {}).get("orderCreate") or {}).get("order")
        if code != 200 or not made:
            return f"orderCreate refused what the recording shows: {_short(got)}"
        self.ids.pair(order_gid, made["id"])
        recorded_lines = (order.get("lineItems") or {}).get("nodes") or []
        for line, node in zip(recorded_lines, made["lineItems"]["nodes"], strict=False):
            if line.get("id"):
                self.ids.pair(line["id"], node["id"])
        for t, node in zip(order.get("transactions") or [], made["transactions"], strict=False):
            if isinstance(t, dict) and t.get("id"):
                self.ids.pair(t["id"], node["id"])
        return None if gid in self.ids.to_twin else "made, but not at the place the recording shows"

    def _variant_input(self, variant: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        """A ProductVariantSetInput for what the recording shows of a variant and its item."""
        out: dict[str, Any] = {}
        options = [
            {"optionName": o["name"], "name": o["value"]}
            for o in variant.get("selectedOptions") or []
            if isinstance(o, dict) and "name" in o and "value" in o
        ]
        out["optionValues"] = options or [{"optionName": "Title", "name": "Default Title"}]
        for key in ("price", "compareAtPrice", "barcode", "taxable", "inventoryPolicy"):
            if variant.get(key) is not None:
                out[key] = variant[key]
        sku = variant.get("sku") or item.get("sku")
        if sku:
            out["sku"] = sku
        inventory: dict[str, Any] = {}
        for key in ("tracked", "requiresShipping"):
            if item.get(key) is not None:
                inventory[key] = item[key]
        if inventory:
            out["inventoryItem"] = inventory
        quantities = []
        for level in (item.get("inventoryLevels") or {}).get("nodes") or []:
            location = (level.get("location") or {}).get("id")
            available = next(
                (
                    q.get("quantity")
                    for q in level.get("quantities") or []
                    if q.get("name") == "available"
                ),
                None,
            )
            if location and available is not None:
                quantities.append(
                    {
                        "locationId": self._location(location),
                        "name": "available",
                        "quantity": available,
                    }
                )
        if quantities:
            out["inventoryQuantities"] = quantities
        return out

    def run(self, ex: Exchange) -> Outcome:
        if ex.same_as is not None:
            original = self.answered.get(id(ex.same_as))
            if original is None:
                return Outcome(
                    ex,
                    "not set up",
                    [f"the same request as {ex.same_as.path}, which was not set up"],
                )
            got, rebuilt = original
            notes = differences(_strip(got, rebuilt), _strip(ex.expected, rebuilt), self.ids)
            if notes and id(ex.same_as) in self.unset_exchanges:
                return Outcome(ex, "not set up", [f"the same request as {ex.same_as.path}", *notes])
            why = self._state_not_recorded(ex, notes) if notes else None
            if why:
                return Outcome(ex, "not set up", [why, *notes])
            return Outcome(ex, "differ" if notes else "match", notes)
        document = ex.document
        roots = _root_names(document) if document else None
        data = ex.expected.get("data")
        if document and isinstance(data, dict) and roots is not None and not set(data) <= roots:
            document = None  # an enclosing document for another operation
        if document is None and isinstance(data, dict):
            # a document kept elsewhere in the recording (an upstream call) with the same root
            # fields, aliases included
            elsewhere = next((d for d in self.documents if _fits(d[0], data)), None)
            if elsewhere is not None:
                document = elsewhere[0]
                if not ex.variables:
                    ex.variables = dict(elsewhere[1])
        inputs: _Inputs | None = None
        if document is None:
            if not ex.variables and isinstance(data, dict):
                # nothing sent was recorded: a mutation's arguments are read back from its answer
                payload = next(iter(data.values()), None) if len(data) == 1 else None
                if isinstance(payload, dict):
                    inputs = _Inputs(
                        payload, _gids(ex.path), lambda g: g in self.ids.to_twin, self._view
                    )
            try:
                document = rebuild(self.schema, ex.expected, ex.variables, inputs)
            except CannotBuild as exc:
                return Outcome(ex, "not set up", [f"no document: {exc}"])
            ex.rebuilt = True
        problem = self._prepare(ex, document)
        if problem:
            return Outcome(ex, "not set up", [problem])
        self._advance(ex)
        unseen = set(_GID_IN_TEXT.findall(json.dumps(ex.expected))) - self.seen
        literals = self._literals_not_sent(ex, document)
        before = self._state() if literals else None
        notes = self._send(ex, document)
        self.seen.update(unseen)
        if not notes:
            return Outcome(ex, "match", notes)
        why = self._input_not_recorded(ex, inputs, unseen) or self._state_not_recorded(ex, notes)
        if why is None and before is not None:
            why = self._literal_not_recorded(ex, literals, before)
        if why is None and self._untimed(ex, document):
            self.elapsed += self._longest_lag()
            first = self.answered[id(ex)]
            later = self._send(ex, document)
            if later:
                self.answered[id(ex)] = first  # the answer judged is the first
            else:
                why = (
                    f"it matches {self._longest_lag():g} twin-s later: the recording holds no"
                    " time to say how long after the request before it this was asked"
                )
        if why:
            self.unset_exchanges.add(id(ex))
            return Outcome(ex, "not set up", [why, *notes])
        return Outcome(ex, "differ", notes)

    def _send(
        self, ex: Exchange, document: str, extra: dict[str, Any] | None = None
    ) -> list[str]:
        """Send one exchange's request; where the twin's answer departs from the recorded one."""
        self.sent[id(ex)] = document
        sent = {**ex.variables, **(extra or {})}
        status, got = self._graphql(self.ids.translate(document), self.ids.translate(sent))
        notes = []
        if ex.status is not None and status != ex.status:
            notes.append(f"HTTP {status} != recorded {ex.status}")
        notes += differences(_strip(got, ex.rebuilt), _strip(ex.expected, ex.rebuilt), self.ids)
        self.answered[id(ex)] = (got, ex.rebuilt)
        ex.sent, ex.answer = document, got
        return notes

    # -- differences that come from what the recording does not hold --------------------------

    def _literals_not_sent(self, ex: Exchange, document: str) -> list[tuple[str, bool]]:
        """For a rebuilt document: the root field's optional Boolean arguments that it leaves
        out (no variable of that name was recorded), each with the value other than its
        default. The recorder's own document, kept elsewhere, may have given them as literals
        (``allowPartialUpdates: true``), which nothing in the recording shows."""
        if not ex.rebuilt:
            return []
        try:
            parsed = parse(document)
        except Exception:
            return []
        out: list[tuple[str, bool]] = []
        for definition in parsed.definitions:
            keyword = getattr(getattr(definition, "operation", None), "value", None)
            root = self.schema.mutation_type if keyword == "mutation" else self.schema.query_type
            for sel in getattr(getattr(definition, "selection_set", None), "selections", ()):
                fdef = root.fields.get(sel.name.value) if root is not None else None
                given = {a.name.value for a in sel.arguments or ()}
                for aname, arg in (fdef.args if fdef is not None else {}).items():
                    optional = not isinstance(arg.type, GraphQLNonNull) or (
                        _default_of(arg) is not Undefined
                    )
                    if (
                        get_named_type(arg.type).name == "Boolean"
                        and optional
                        and aname not in given
                        and aname not in ex.variables
                    ):
                        out.append((aname, _default_of(arg) is not True))
        return out

    def _state(self) -> tuple[ShopState, Ids]:
        """The twin's shop and the id pairs as they are now (to send a request again from)."""
        memo = {id(self.twin): self.twin, id(self.twin.clock): self.twin.clock}
        return copy.deepcopy(self.twin.shops[SHOP], memo), copy.deepcopy(self.ids)

    def _restore(self, state: tuple[ShopState, Ids]) -> None:
        memo = {id(self.twin): self.twin, id(self.twin.clock): self.twin.clock}
        shop, ids = copy.deepcopy(state, memo)
        self.twin.shops[SHOP] = shop
        self.ids = ids

    def _literal_not_recorded(
        self, ex: Exchange, literals: list[tuple[str, bool]], before: tuple[ShopState, Ids]
    ) -> str | None:
        """Rule 4: a rebuilt request that differs, sent again from the state before it with one
        left-out optional Boolean argument at its other value, matches. The recording does not
        hold the recorder's literal arguments; the state left is the matching request's (what
        Shopify did), else the first one's, whose answer is judged."""
        first_answer = self.answered[id(ex)]
        after = self._state()
        for aname, value in literals:
            self._restore(before)
            document = rebuild(self.schema, ex.expected, {**ex.variables, aname: value})
            if not self._send(ex, document, {aname: value}):
                return (
                    f"its document is not in the recording: it matches with {aname}:"
                    f" {json.dumps(value)}, a literal the rebuilt document (arguments from the"
                    " variables recorded) cannot know"
                )
        self._restore(after)
        self.answered[id(ex)] = first_answer
        return None

    def _input_not_recorded(
        self, ex: Exchange, inputs: _Inputs | None, unseen: set[str]
    ) -> str | None:
        """A request read back from its answer that shows input the read-back cannot send: what
        Shopify was sent is not in the recording. The objects it made are marked, so a later
        exchange that differs only in them is not set up either."""
        if inputs is None or not inputs.missed:
            return None
        got, _ = self.answered[id(ex)]
        if got.get("errors"):
            return None  # the twin refused it: that is the twin's behaviour, not the input's
        why = (
            f"made by {ex.path}, whose request the recording does not hold (read back from its"
            f" answer without {', '.join(sorted(inputs.missed))})"
        )
        for gid in unseen:
            self.unset.setdefault(gid, why)
        return (
            "its request is not in the recording: read back from its answer, which shows"
            f" {', '.join(sorted(inputs.missed))} in a shape the input does not take"
        )

    def _state_not_recorded(self, ex: Exchange, notes: list[str]) -> str | None:
        """Every difference lies in an object the twin could not have as recorded: one made
        before the recording that the twin has no counterpart for (the recording never made it
        and the replay makes an object only when a request sends it), or one made by a request
        the recording does not hold (:meth:`_input_not_recorded`)."""
        causes: dict[str, str] = {}
        for note in notes:
            path = note.split(": ", 1)[0]
            subjects = _subjects(ex.expected, path) or self._counted(ex, path)
            if not subjects:
                return None
            for gid in subjects:
                why = self.unset.get(gid) or (
                    "made before the recording, which the twin has no counterpart for"
                    if self._before_recording(gid)
                    else None
                )
                if why is None:
                    return None
                causes[gid] = why
        return "it differs only in objects the replay cannot have as recorded: " + "; ".join(
            f"{gid} ({why})" for gid, why in causes.items()
        )

    def _counted(self, ex: Exchange, path: str) -> set[str]:
        """For a count (``ordersCount`` under any alias) that differs: the objects of the kind it
        counts that the same answer shows and that were made before the recording (none: the
        count is not attributed to them)."""
        steps = [name for name, _ in _PATH_STEP.findall(path)]
        if len(steps) < 3 or steps[0] != "data" or steps[-1] not in ("count", "precision"):
            return set()
        sent = self.sent.get(id(ex.same_as if ex.same_as is not None else ex))
        field_name = _root_field(sent, steps[1]) if sent else None
        if not field_name or not field_name.endswith("sCount"):
            return set()
        kind = field_name[0].upper() + field_name[1:-6]
        shown = {
            g for g in _GID_IN_TEXT.findall(json.dumps(ex.expected)) if g.split("/")[3] == kind
        }
        return shown if shown and all(self._before_recording(g) for g in shown) else set()

    def _before_recording(self, gid: str) -> bool:
        """A recorded object that existed before the recording and has no twin counterpart."""
        if gid in self.ids.to_twin:
            return False
        maker = self.made_by.get(gid)
        first = self.first_shown.get(gid)
        return maker is None or (
            first is not None and self.order[id(first)] < self.order[id(maker)]
        )

    def _untimed(self, ex: Exchange, document: str) -> bool:
        """A read whose answer holds no timestamp, in a recording that therefore does not say
        how long after the request before it the read was made."""
        mutations = set(self.schema.mutation_type.fields) if self.schema.mutation_type else set()
        return not _TS_IN_TEXT.search(json.dumps(ex.expected)) and not (
            (_root_names(document) or set()) & mutations
        )

    def _longest_lag(self) -> float:
        settings = self.twin.consistency.as_json()
        return max(float(v) for k, v in settings.items() if k not in ("enabled",))


def _options_input(product: dict[str, Any], variants: list[dict[str, Any]]) -> list[Any]:
    """``productOptions`` for a product the replay makes: the options the recording shows of
    it, else those its variants' option values name (in the order met)."""
    options = [
        {
            "name": o["name"],
            "values": [
                {"name": n}
                for n in (o.get("values") or [ov.get("name") for ov in o.get("optionValues") or []])
            ],
        }
        for o in product.get("options") or []
        if isinstance(o, dict) and o.get("name")
    ]
    if options:
        return options
    names: dict[str, list[str]] = {}
    for v in variants:
        for ov in v.get("optionValues", []):
            names.setdefault(ov["optionName"], [])
            if ov["name"] not in names[ov["optionName"]]:
                names[ov["optionName"]].append(ov["name"])
    return [{"name": n, "values": [{"name": x} for x in vals]} for n, vals in names.items()]


_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _subjects(expected: dict[str, Any], path: str) -> set[str]:
    """The recorded objects a difference at ``path`` (``.data.order.lineItems.nodes[0].title``)
    is about: the object there, or the items of a list there, or for a connection's
    ``pageInfo`` its nodes, else the nearest enclosing object with an id. Empty: no object."""
    node: Any = expected
    chain: list[Any] = [node]
    for name, index in _PATH_STEP.findall(path):
        if index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        elif name and isinstance(node, dict) and name in node:
            node = node[name]
        else:
            node = None
        chain.append(node)

    def gid_of(value: Any) -> str | None:
        if isinstance(value, dict) and isinstance(value.get("node"), dict):
            value = value["node"]
        gid = value.get("id") if isinstance(value, dict) else None
        return gid if isinstance(gid, str) and _GID.match(gid) else None

    if isinstance(node, list):
        found = {g for item in node if (g := gid_of(item))}
        if found:
            return found
    for i, step in enumerate(reversed(chain)):
        if gid_of(step):
            return {str(gid_of(step))}
        members = step.get("nodes") or step.get("edges") if isinstance(step, dict) else None
        if i > 0 and isinstance(members, list) and "pageInfo" in path:
            found = {g for item in members if (g := gid_of(item))}
            if found:
                return found
    return set()


def _root_field(document: str, key: str) -> str | None:
    """The root field an answer's key stands for in a document (the key itself, or its alias)."""
    try:
        parsed = parse(document)
    except Exception:
        return None
    for definition in parsed.definitions:
        for sel in getattr(getattr(definition, "selection_set", None), "selections", ()):
            name = getattr(sel, "name", None)
            alias = getattr(sel, "alias", None)
            if name is not None and (alias or name).value == key:
                return str(name.value)
    return None


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a structure, each before those inside it."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _dicts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _dicts(v)


def _deep_merge(views: list[dict[str, Any]]) -> dict[str, Any]:
    """One object from several views of it: the first view that has a value gives it."""
    merged: dict[str, Any] = {}
    for view in views:
        for k, v in view.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = _deep_merge([merged[k], v])
            elif k not in merged or merged[k] in (None, [], {}):
                merged[k] = v
    return merged


def _placed(found: list[Exchange]) -> list[Exchange]:
    """The exchanges in the order they were made, each answer recorded twice marked as such. A
    case kept as an answer alone that repeats an earlier case's answer word for word is that
    case recorded again: it is compared with the twin's answer to it. A recording's
    ``upstreamCalls`` are the calls
    its client made to Shopify, listed apart from its cases with no place among them: one that is
    a case's request again (same root fields, variables and answer) is placed after that case and
    compared with the twin's answer to it; one that reads recorded ids (the read a client makes
    before it sends them on) is placed right before the first case that sends them all, or, if
    none does after they are shown, right after the case whose answer first shows them; the
    others stay at the end."""
    cases = [ex for ex in found if not ex.path.startswith("upstreamCalls")]
    for i, ex in enumerate(cases):
        # an answer kept alone (no document, no variables) that is an earlier case's answer
        # word for word, about the same objects, is that case recorded again
        data = ex.expected.get("data")
        if ex.document is None and not ex.variables and isinstance(data, dict) and data:
            ex.same_as = next(
                (
                    c
                    for c in cases[:i]
                    if c.expected.get("data") == data
                    and set(_GID_IN_TEXT.findall(ex.path)) <= set(_GID_IN_TEXT.findall(c.path))
                ),
                None,
            )
    out = list(cases)
    for ex in found:
        if not ex.path.startswith("upstreamCalls"):
            continue
        data = ex.expected.get("data")
        roots = set(data) if isinstance(data, dict) else None
        ex.same_as = next(
            (
                c
                for c in cases
                if roots
                and isinstance(c.expected.get("data"), dict)
                and set(c.expected["data"]) == roots
                and (not c.variables or c.variables == ex.variables)
                and (c.document is None or ex.document is None or _same(c.document, ex.document))
                and c.expected.get("data") == data
            ),
            None,
        )
        sent = set(_GID_IN_TEXT.findall(json.dumps(ex.variables)))
        if ex.same_as is not None:
            at = out.index(ex.same_as) + 1
            while at < len(out) and out[at].path.startswith("upstreamCalls"):
                at += 1
            out.insert(at, ex)
            continue
        user = next(
            (
                c
                for c in cases
                if sent and sent <= set(_GID_IN_TEXT.findall(json.dumps(c.variables)))
            ),
            None,
        )
        shown = next(
            (
                c
                for c in cases
                if sent and sent <= set(_GID_IN_TEXT.findall(json.dumps(c.expected)))
            ),
            None,
        )
        if user is not None and (shown is None or cases.index(shown) <= cases.index(user)):
            out.insert(out.index(user), ex)  # the read a client makes before it sends them
        elif shown is not None:
            out.insert(out.index(shown) + 1, ex)
        else:
            out.append(ex)
    return out


def _fits(document: str, data: dict[str, Any]) -> bool:
    """Whether a document asks for what an answer holds: its root fields (aliases included) and,
    under each, the fields the answer shows (a document with fragments is not looked into)."""
    if _root_names(document) != set(data):
        return False
    try:
        parsed = parse(document)
    except Exception:
        return False
    for definition in parsed.definitions:
        selection_set = getattr(definition, "selection_set", None)
        if getattr(definition, "operation", None) is None or selection_set is None:
            continue
        for root in selection_set.selections:
            key = (root.alias or root.name).value if hasattr(root, "name") else None
            value = data.get(key or "")
            if isinstance(value, list):
                value = _merge(value)
            inner = getattr(root, "selection_set", None)
            if not isinstance(value, dict) or not value or inner is None:
                continue
            names = set()
            for sel in inner.selections:
                if not hasattr(sel, "name") or not hasattr(sel, "alias"):
                    return True  # a fragment: not looked into
                names.add((sel.alias or sel.name).value)
            if names != set(value):
                return False
    return True


def _same(a: str, b: str) -> bool:
    """Whether two document texts are the same document (layout and comments aside)."""
    try:
        return print_ast(parse(a)) == print_ast(parse(b))
    except Exception:
        return a == b


def replay_all(conformance_dir: Path, schema: GraphQLSchema) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for path in sorted(conformance_dir.glob("*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        found = _placed(exchanges(path.name, rec))
        replay = Replay(path.name, rec, schema, found)
        for ex in found:
            outcomes.append(replay.run(ex))
    return outcomes


def figures(outcomes: list[Outcome]) -> dict[str, int]:
    files: dict[str, bool] = {}
    for o in outcomes:
        files[o.exchange.file] = files.get(o.exchange.file, True) and o.verdict == "match"
    return {
        "exchanges": len(outcomes),
        "match": sum(o.verdict == "match" for o in outcomes),
        "differ": sum(o.verdict == "differ" for o in outcomes),
        "not set up": sum(o.verdict == "not set up" for o in outcomes),
        "files": len(files),
        "files matching": sum(files.values()),
    }


# -- tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outcomes(conformance_dir: Path, real_schema: GraphQLSchema) -> list[Outcome]:
    return replay_all(conformance_dir, real_schema)


def test_every_recording_yields_exchanges(outcomes: list[Outcome], conformance_dir: Path) -> None:
    files = {o.exchange.file for o in outcomes}
    assert files == {p.name for p in conformance_dir.glob("*.json")}
    print("\nreplay figures:", figures(outcomes))


def test_every_exchange_matches_or_is_accepted(outcomes: list[Outcome]) -> None:
    unexplained = [
        f"{o.exchange.file} {o.exchange.path}: {'; '.join(o.notes[:4])}"
        for o in outcomes
        if o.verdict == "differ" and accepted(o.exchange) is None
    ]
    assert not unexplained, f"{len(unexplained)} exchanges differ:\n" + "\n".join(unexplained)


def test_accepted_differences_still_differ(outcomes: list[Outcome]) -> None:
    stale = [
        (file, prefix)
        for file, prefix, _ in ACCEPTED
        if not any(
            o.verdict == "differ" and o.exchange.file == file and o.exchange.path.startswith(prefix)
            for o in outcomes
        )
    ]
    assert not stale, f"these now match (or are gone); drop them from ACCEPTED: {stale}"


def rackshop_sends(schema: GraphQLSchema) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """What rackshop sends Shopify: the (operation type, root field) of every packaged document
    (``rackshop/shopify/documents``; bulk queries and bulk mutations run those documents too),
    and every (type, field) they select."""
    operations: set[tuple[str, str]] = set()
    selected: set[tuple[str, str]] = set()
    for name in document_names():
        parsed = parse(load_document(name))
        for definition in parsed.definitions:
            if isinstance(definition, OperationDefinitionNode):
                for sel in definition.selection_set.selections:
                    if isinstance(sel, FieldNode):
                        operations.add((definition.operation.value, sel.name.value))
        info = TypeInfo(schema)
        visit(parsed, TypeInfoVisitor(info, _Fields(info, selected)))
    return operations, selected


class _Fields(Visitor):
    """Collects the (parent type, field) of every field a document selects."""

    def __init__(self, info: TypeInfo, into: set[tuple[str, str]]) -> None:
        super().__init__()
        self.info = info
        self.into = into

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.info.get_parent_type()
        if parent is not None:
            self.into.add((parent.name, node.name.value))


def _unasked(error: Any, selected: set[tuple[str, str]]) -> bool:
    """Whether an error is the twin refusing a field (or a fragment's type) that no rackshop
    document asks for."""
    ext = error.get("extensions") if isinstance(error, dict) else None
    if not isinstance(ext, dict):
        return False
    if ext.get("code") == "undefinedField":
        return (ext.get("typeName"), ext.get("fieldName")) not in selected
    if ext.get("code") == "undefinedType":
        return all(type_name != ext.get("typeName") for type_name, _ in selected)
    return False


def _operations(document: str | None) -> set[tuple[str, str]]:
    try:
        parsed = parse(document or "")
    except Exception:
        return set()
    return {
        (d.operation.value, s.name.value)
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode)
        for s in d.selection_set.selections
        if isinstance(s, FieldNode)
    }


def accepted_on_what_rackshop_sends(
    outcomes: list[Outcome], schema: GraphQLSchema
) -> list[str]:
    """Accepted differences in an operation rackshop sends. A mutation rackshop sends may have
    none; a query rackshop sends only the twin's refusal of fields that no rackshop document
    asks for (``Product.onlineStorePreviewUrl`` in a recorder's hydrate read of ``product``, a
    fragment on ``MediaImage``): such a refusal cannot reach rackshop, whose every field the
    twin answers."""
    operations, selected = rackshop_sends(schema)
    found = []
    for o in outcomes:
        ex = o.exchange.same_as or o.exchange
        if o.verdict != "differ" or accepted(o.exchange) is None:
            continue
        ours = _operations(ex.sent) & operations
        refused = (ex.answer or {}).get("errors") or []
        unasked = (
            not (ex.answer or {}).get("data")
            and bool(refused)
            and all(_unasked(e, selected) for e in refused)
        )
        if ours and (any(kind == "mutation" for kind, _ in ours) or not unasked):
            found.append(f"{o.exchange.file} {o.exchange.path}: {sorted(ours)}")
    return found


def test_no_accepted_difference_in_what_rackshop_sends(
    outcomes: list[Outcome], real_schema: GraphQLSchema
) -> None:
    """Issue 20's bar: the accepted list holds nothing for the operations rackshop sends."""
    found = accepted_on_what_rackshop_sends(outcomes, real_schema)
    assert not found, "accepted differences in what rackshop sends:\n" + "\n".join(found)


def test_allow_partial_recording_is_replayed_through(outcomes: list[Outcome]) -> None:
    """product-variants-bulk-update-allow-partial-and-error-order: its setup, read-after-write
    and error ordering match; only the partial update itself is not set up (rule 4: its
    allowPartialUpdates literal is not in the recording) and the recorder's hydrate read is
    accepted (Product.onlineStorePreviewUrl)."""
    name = "2026-04--product-variants-bulk-update-allow-partial-and-error-order.json"
    verdicts = {o.exchange.path: o.verdict for o in outcomes if o.exchange.file == name}
    assert verdicts == {
        "setup.createProductResponse": "match",
        "setup.setupOptionsResponse": "match",
        "setup.setupSecondVariantResponse": "match",
        "upstreamCalls[0]": "differ",
        "partialUpdate": "not set up",
        "partialRead": "match",
        "errorOrdering": "match",
    }


def test_not_set_up_does_not_grow(outcomes: list[Outcome]) -> None:
    """Exchanges the replay cannot set up (documents and variables the recorder kept elsewhere,
    objects made outside the recording): the count may only fall."""
    assert sum(o.verdict == "not set up" for o in outcomes) <= NOT_SET_UP


def _main() -> None:
    root = Path(os.environ.get("RACKSHOP_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    with gzip.open(root / "shopify" / "admin-2026-07.graphql.gz", "rt", encoding="utf-8") as fh:
        schema = build_schema(fh.read(), assume_valid=True)
    results = replay_all(root / "shopify" / "conformance", schema)
    verbose = "-v" in sys.argv
    for o in results:
        if o.verdict != "match":
            why = " (accepted)" if o.verdict == "differ" and accepted(o.exchange) else ""
            print(f"{o.verdict}{why}: {o.exchange.file} {o.exchange.path}")
            for n in o.notes[: None if verbose else 3]:
                print("    " + n)
    print(figures(results))


if __name__ == "__main__":
    _main()
