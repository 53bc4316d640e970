"""Bulk query operations: ``bulkOperationRunQuery``, polling, cancelling, and JSONL results.

An operation is ``CREATED`` when started, ``RUNNING`` on its first poll and ``COMPLETED`` on the
second (``ShopifyTwin.bulk_polls_to_complete``), or after ``ShopifyTwin.bulk_delay`` twin-seconds
when that is set. On completion the inner query runs over *every* object (connections ignore
page sizes in bulk mode) and its result is written as JSONL: one line per connection node,
nested connection nodes as their own lines with ``__parentId``, each after its parent. The file
is served at ``GET /shops/{shop}/bulk/{n}.jsonl`` on the twin's own server.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute_sync,
    parse,
)

from . import consistency, contract_admin, scopes, search
from .catalog import ctx_of, run_search, user_error
from .cost import _unwrap, is_connection_type, selected_fields
from .graphql_errors import parse_error_message, validation_errors
from .state import Context, SchemaMemo, ShopState, bulk_mode, gid_number, set_resolvers

ACTIVE = ("CREATED", "RUNNING", "CANCELING")
TERMINAL = ("COMPLETED", "CANCELED", "FAILED", "EXPIRED")
MAX_CONNECTIONS = 5
#: Operations of one type a shop runs at once: five from API version 2026-01, one before
#: (shopify.dev "Bulk import data with the GraphQL Admin API" and the bulk query guide).
CONCURRENT_OPERATIONS = 5
MAX_DEPTH = 2


def _invalid(message: str) -> dict[str, Any]:
    return user_error(["query"], message, "INVALID")


# -- validation of the inner query ------------------------------------------------------------


class _Conn:
    def __init__(self, name: str, depth: int, node: FieldNode) -> None:
        self.name = name
        self.depth = depth
        self.node = node
        self.via_nodes = False
        self.has_id = False
        self.in_list = False
        self.children: list[_Conn] = []


def _field_type(parent: Any, name: str) -> tuple[Any, bool]:
    """(named type, is list) of a field, or (None, False) when the schema does not know it."""
    if not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
        return None, False
    return _unwrap(parent.fields[name].type)


def _looks_like_connection(node: FieldNode, named: Any) -> bool:
    if named is not None:
        return is_connection_type(named)
    return any(f.name.value in ("edges", "nodes") for f in selected_fields(node.selection_set, {}))


def _collect(
    schema: GraphQLSchema,
    parent: Any,
    sel: Any,
    depth: int,
    in_list: bool,
    out: list[_Conn],
    owner: _Conn | None,
    fragments: dict[str, Any],
) -> None:
    for f in selected_fields(sel, fragments):
        named, is_list = _field_type(parent, f.name.value)
        if f.name.value == "id" and owner is not None and f.alias is None:
            owner.has_id = True
        if f.selection_set is None:
            continue
        if _looks_like_connection(f, named):
            conn = _Conn(f.name.value, depth + 1, f)
            conn.in_list = in_list
            out.append(conn)
            if owner is not None:
                owner.children.append(conn)
            node_type = None
            if isinstance(named, GraphQLObjectType) and "nodes" in named.fields:
                node_type, _ = _unwrap(named.fields["nodes"].type)
            for cf in selected_fields(f.selection_set, fragments):
                if cf.name.value == "nodes":
                    conn.via_nodes = True
                    _collect(
                        schema, node_type, cf.selection_set, depth + 1, False, out, conn, fragments
                    )
                elif cf.name.value == "edges":
                    for ef in selected_fields(cf.selection_set, fragments):
                        if ef.name.value == "node":
                            _collect(
                                schema,
                                node_type,
                                ef.selection_set,
                                depth + 1,
                                False,
                                out,
                                conn,
                                fragments,
                            )
        else:
            _collect(
                schema, named, f.selection_set, depth, in_list or is_list, out, owner, fragments
            )


_CHECKED: SchemaMemo[tuple[list[dict[str, Any]], DocumentNode | None]] = SchemaMemo(256)


def validate_inner_query(
    schema: GraphQLSchema, text: str
) -> tuple[list[dict[str, Any]], DocumentNode | None]:
    """Check a bulk query the way Shopify does; returns (userErrors, parsed document).

    Memoised per schema and query text: a client sends the same few bulk queries every pass,
    and checking one (parse, walk, schema validation) cost more than running a small one.
    """
    found = _CHECKED.get(schema, text, lambda: _check_inner_query(schema, text))
    return [dict(e) for e in found[0]], found[1]


def _check_inner_query(
    schema: GraphQLSchema, text: str
) -> tuple[list[dict[str, Any]], DocumentNode | None]:
    try:
        doc = parse(text)
    except GraphQLError as exc:
        return [_invalid(f"Invalid bulk query: {parse_error_message(exc)}")], None
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    fragments: dict[str, Any] = {
        d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if not ops:
        return [_invalid("Bulk queries must contain at least one connection.")], None
    if any(op.operation != OperationType.QUERY for op in ops):
        return [_invalid("Invalid operation type. Only `query` operations are supported.")], None
    op = ops[0]
    errors: list[dict[str, Any]] = []
    roots = list(selected_fields(op.selection_set, fragments))
    if any(f.name.value in ("node", "nodes") for f in roots):
        errors.append(_invalid("Bulk queries cannot contain a top level `node` field."))
    conns: list[_Conn] = []
    _collect(schema, schema.query_type, op.selection_set, 0, False, conns, None, fragments)
    if not conns:
        errors.append(_invalid("Bulk queries must contain at least one connection."))
    via_nodes = [c.name for c in conns if c.via_nodes]
    if via_nodes:
        example = via_nodes[0]
        errors.append(
            _invalid(
                "All connection fields in a bulk query must select their contents using 'edges' > "
                f"'node', e.g: '{example} {{ edges {{ node {{'. Selecting via 'nodes' is not "
                "supported. Invalid connection fields: "
                + ", ".join(f"'{n}'" for n in via_nodes)
                + "."
            )
        )
    if len(conns) > MAX_CONNECTIONS:
        errors.append(_invalid("Bulk queries cannot contain more than 5 connections."))
    if any(c.depth > MAX_DEPTH for c in conns):
        errors.append(
            _invalid("Bulk queries cannot contain connections with a nesting depth greater than 2.")
        )
    no_id = [c.name for c in conns if c.children and not c.has_id]
    if no_id:
        errors.append(
            _invalid(
                "The parent 'node' field for a nested connection must select the 'id' field "
                "without an alias and must be of 'ID' return type. Connection fields without "
                "'id': " + ", ".join(no_id) + "."
            )
        )
    if any(c.in_list for c in conns):
        errors.append(
            _invalid(
                "Queries that contain a connection field within a list field are not currently "
                "supported."
            )
        )
    paged = [
        c.name
        for c in conns
        if any(a.name.value in ("first", "last", "after", "before") for a in c.node.arguments or ())
    ]
    if paged and not errors:
        errors.append(
            _invalid(
                "Bulk queries cannot use pagination arguments (first, last, after, before); "
                "they return every object. Connection fields with pagination arguments: "
                + ", ".join(paged)
                + "."
            )
        )
    if errors:
        return errors, None
    schema_errors = validation_errors(schema, doc)
    if schema_errors:
        return [_invalid(f"Invalid bulk query: {schema_errors[0]['message']}")], None
    return [], doc


# -- running ----------------------------------------------------------------------------------


class _JsonlLines:
    """A bulk query's result as JSONL records: one line per node of a connection (nested objects
    inline), the nodes of a nested connection on their own lines after their parent's, each with
    ``__parentId``. ``fragments`` are the query's, by name."""

    def __init__(self, fragments: dict[str, Any]) -> None:
        self.fragments = fragments
        self.lines: list[dict[str, Any]] = []

    def result(self, parent: Any, sel: Any, data: Any) -> int:
        """Write the lines of a whole result; returns how many root lines were written."""
        if not isinstance(data, dict):
            return 0
        return sum(self.connection(parent, f, data, None)
                   for f in selected_fields(sel, self.fragments))

    def connection(self, parent: Any, f: FieldNode, data: dict[str, Any],
                   parent_id: str | None) -> int:
        """Write the nodes of one connection field (and, recursively, their nested connections);
        returns how many root lines that was."""
        named, _ = _field_type(parent, f.name.value)
        value = data.get(f.alias.value if f.alias else f.name.value)
        if named is None or not is_connection_type(named) or not isinstance(value, dict):
            return 0
        node_type, _ = _unwrap(named.fields["nodes"].type)
        node_sel = None
        for cf in selected_fields(f.selection_set, self.fragments):
            if cf.name.value == "edges":
                for ef in selected_fields(cf.selection_set, self.fragments):
                    if ef.name.value == "node":
                        node_sel = ef.selection_set
        roots = 0
        for edge in value.get("edges") or []:
            self.node(node_type, node_sel, edge.get("node"), parent_id)
            roots += 1
        return roots if parent_id is None else 0

    def node(self, node_type: Any, sel: Any, node: Any, parent_id: str | None) -> None:
        """One line for a node (nested objects inline), then the lines of its nested
        connections."""
        if not isinstance(node, dict):
            return
        nested: list[tuple[Any, FieldNode, dict[str, Any]]] = []

        def strip(t: Any, s: Any, value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            out: dict[str, Any] = {}
            for f in selected_fields(s, self.fragments):
                key = f.alias.value if f.alias else f.name.value
                named, is_list = _field_type(t, f.name.value)
                v = value.get(key)
                if named is not None and is_connection_type(named):
                    nested.append((t, f, value))
                    continue
                if f.selection_set is not None and v is not None:
                    if is_list:
                        v = [strip(named, f.selection_set, x) for x in v]
                    else:
                        v = strip(named, f.selection_set, v)
                out[key] = v
            return out

        line = strip(node_type, sel, node)
        if parent_id is not None:
            line["__parentId"] = parent_id
        self.lines.append(line)
        own_id = node.get("id")
        for t, f, value in nested:
            self.connection(t, f, value, own_id)


def run_to_jsonl(ctx: Context, doc: DocumentNode) -> tuple[bytes, int, int, list[str]]:
    """Run a validated inner query over everything; returns (jsonl, objects, roots, errors)."""
    schema = ctx.twin.schema
    inner = Context(
        shop=ctx.shop,
        twin=ctx.twin,
        api_version=ctx.api_version,
        variables={},
        base_url=ctx.base_url,
        request_no=ctx.request_no,
    )
    with bulk_mode():
        result = execute_sync(schema, doc, context_value=inner)
    errors = [e.message for e in result.errors or []]
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    fragments: dict[str, Any] = {
        d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)
    }
    jsonl = _JsonlLines(fragments)
    roots = jsonl.result(schema.query_type, op.selection_set, result.data)
    lines = jsonl.lines
    body = b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for line in lines
    )
    return body, len(lines), roots, errors


# -- operation lifecycle ----------------------------------------------------------------------


def _run(ctx: Context, op: dict[str, Any], doc: DocumentNode) -> tuple[bytes, int, int, list[str]]:
    """Run an operation's work: a query over everything, or a mutation's lines (its ``_run``)."""
    runner = op.get("_run")
    return runner(ctx, op, doc) if runner is not None else run_to_jsonl(ctx, doc)


def _complete(ctx: Context, op: dict[str, Any]) -> None:
    shop = ctx.shop
    doc = op.pop("_doc", None) or parse(op["query"])
    narrowed = contract_admin.narrowed_scopes(shop)
    inner = next((d for d in doc.definitions if isinstance(d, OperationDefinitionNode)), None)
    denied = bool(narrowed is not None and inner is not None
                  and scopes.refused(narrowed, doc, inner))
    if denied:  # Shopify fails the operation: BulkOperationErrorCode.ACCESS_DENIED
        op.pop("_result", None)
        body, objects, roots, errors = b"", 0, 0, []
    else:
        body, objects, roots, errors = op.pop("_result", None) or _run(ctx, op, doc)
    op["completedAt"] = shop.now_iso()
    op["objectCount"] = str(objects)
    op["rootObjectCount"] = str(roots)
    if denied:
        op["status"] = "FAILED"
        op["errorCode"] = "ACCESS_DENIED"
    elif errors:
        op["status"] = "FAILED"
        op["errorCode"] = "INTERNAL_SERVER_ERROR"
        op["_errors"] = errors
    else:
        op["status"] = "COMPLETED"
    op["_data"] = body
    op["fileSize"] = str(len(body)) if objects else None
    if objects:
        op["url"] = f"{ctx.base_url}/shops/{shop.name}/bulk/{gid_number(op['id'])}.jsonl"
    shop.emit(
        "bulk_operations/finish",
        {
            "admin_graphql_api_id": op["id"],
            "completed_at": op["completedAt"],
            "created_at": op["createdAt"],
            "error_code": op["errorCode"],
            "status": op["status"].lower(),
            "type": op["type"].lower(),
        },
    )


def _advance_in_time(ctx: Context, op: dict[str, Any]) -> None:
    """Eventual consistency on: the operation's state follows twin time (consistency.py)."""
    settings = ctx.twin.consistency
    now = ctx.twin.clock.now()
    if op.get("_born") == ctx.request_no:
        return  # the run's own answer says CREATED
    if op["status"] == "CANCELING":
        if now - op["_cancel_at"] >= settings.cancel_seconds:
            op["status"] = "CANCELED"
            op["completedAt"] = ctx.shop.now_iso()
        return
    if now - op["_started"] < settings.bulk_start:
        return  # still CREATED
    if "_result" not in op:  # starts running: what it will count
        doc = op.get("_doc") or parse(op["query"])
        op["_result"] = _run(ctx, op, doc)
    _, objects, roots, _ = op["_result"]
    running_from, done_at = consistency.bulk_schedule(settings, op["_started"], objects)
    if now >= done_at:
        _complete(ctx, op)
        return
    share = (now - running_from) / (done_at - running_from) if done_at > running_from else 1.0
    op["status"] = "RUNNING"
    op["objectCount"] = str(int(objects * share))
    op["rootObjectCount"] = str(int(roots * share))


def advance(ctx: Context, op: dict[str, Any]) -> None:
    """Move an operation along when a request reads it (one step per request)."""
    if op["status"] in TERMINAL:
        return
    if ctx.twin.consistency.enabled:
        _advance_in_time(ctx, op)
        return
    if op.get("_last_request") == ctx.request_no:
        return
    op["_last_request"] = ctx.request_no
    if op["status"] == "CANCELING":
        op["status"] = "CANCELED"
        op["completedAt"] = ctx.shop.now_iso()
        return
    twin = ctx.twin
    op["_polls"] = op.get("_polls", 0) + 1
    if twin.bulk_delay is not None:
        due = twin.clock.now() - op["_started"] >= twin.bulk_delay
    else:
        due = op["_polls"] >= twin.bulk_polls_to_complete
    if due:
        _complete(ctx, op)
    else:
        op["status"] = "RUNNING"


def jsonl_for(shop: ShopState, number: int) -> bytes | None:
    """The JSONL of a completed operation (``None`` if there is none)."""
    op = shop.bulk_operations.get(shop.gid("BulkOperation", number))
    if op is None or op.get("_data") is None:
        return None
    data: bytes = op["_data"]
    return data


def _m_run_query(_: Any, info: GraphQLResolveInfo, query: str, groupObjects: bool = False) -> Any:
    ctx = ctx_of(info)
    errors, doc = validate_inner_query(info.schema, query)
    if errors:
        return {"bulkOperation": None, "userErrors": errors}
    busy = in_progress(ctx, "QUERY")
    if busy:
        return {"bulkOperation": None, "userErrors": [busy]}
    return {"bulkOperation": new_operation(ctx, "QUERY", query, doc), "userErrors": []}


def in_progress(ctx: Context, kind: str) -> dict[str, Any] | None:
    """The ``OPERATION_IN_PROGRESS`` userError when the shop already runs as many operations of
    ``kind`` (``QUERY`` / ``MUTATION``) as the API version allows (five from 2026-01, else one),
    else ``None``. Operations nobody polls finish in the background first, as at Shopify."""
    shop = ctx.shop
    limit = CONCURRENT_OPERATIONS if ctx.version_at_least("2026-01") else 1
    for old in shop.bulk_operations.values():
        if old["type"] != kind or old["status"] not in ACTIVE:
            continue
        if ctx.twin.consistency.enabled:
            _advance_in_time(ctx, old)
        elif (
            old["status"] != "CANCELING"
            and ctx.twin.clock.now() - old["_started"] >= ctx.twin.bulk_background_seconds
        ):
            _complete(ctx, old)
    running = [
        op
        for op in shop.bulk_operations.values()
        if op["type"] == kind and op["status"] in ACTIVE
    ]
    if len(running) < limit:
        return None
    ids = ", ".join(op["id"] for op in running)
    return user_error(
        None,
        f"A bulk {kind.lower()} operation for this app and shop is already in progress: {ids}.",
        "OPERATION_IN_PROGRESS",
    )


def new_operation(ctx: Context, kind: str, text: str, doc: DocumentNode | None,
                  **extra: Any) -> dict[str, Any]:
    """A new operation of ``kind`` (``CREATED``), kept in the shop."""
    shop = ctx.shop
    op: dict[str, Any] = {
        "id": shop.new_gid("BulkOperation"),
        "status": "CREATED",
        "type": kind,
        "errorCode": None,
        "createdAt": shop.now_iso(),
        "completedAt": None,
        "objectCount": "0",
        "rootObjectCount": "0",
        "fileSize": None,
        "url": None,
        "partialDataUrl": None,
        "query": text,
        "_polls": 0,
        "_started": ctx.twin.clock.now(),
        "_last_request": ctx.request_no,
        "_born": ctx.request_no,
        "_doc": doc,
        **extra,
    }
    shop.bulk_operations[op["id"]] = op
    return op


def _m_cancel(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx = ctx_of(info)
    op = ctx.shop.bulk_operations.get(id)
    if op is None:
        return {
            "bulkOperation": None,
            "userErrors": [user_error(["id"], "Bulk operation does not exist")],
        }
    if ctx.twin.consistency.enabled:
        _advance_in_time(ctx, op)
        if op["status"] == "CANCELING":  # recorded: cancelling again answers it, no error
            return {"bulkOperation": op, "userErrors": []}
    if op["status"] in TERMINAL or op["status"] == "CANCELING":
        return {
            "bulkOperation": op,
            "userErrors": [
                user_error(
                    None,
                    f"A bulk operation cannot be canceled when it is {op['status'].lower()}",
                )
            ],
        }
    op["status"] = "CANCELING"
    op["_cancel_at"] = ctx.twin.clock.now()
    op["_last_request"] = ctx.request_no
    return {"bulkOperation": op, "userErrors": []}


def _r_operation(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return ctx_of(info).shop.bulk_operations.get(id)


def _operation_fields() -> dict[str, search.Field]:
    F = search.Field
    return {
        "id": F(lambda o: o["id"], "id"),
        "status": F(lambda o: o["status"], "string"),
        "operation_type": F(lambda o: o["type"], "string"),
        "created_at": F(lambda o: o["createdAt"], "time"),
    }


def _r_operations(_: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    from .catalog import paged  # local: catalog imports nothing from here

    ctx = ctx_of(info)
    ops = list(ctx.shop.bulk_operations.values())
    # Reading the list polls each operation, like reading it one by one.
    for op in ops:
        advance(ctx, op)
    ops = run_search(info, args.get("query"), ops, _operation_fields())
    sort_key = args.get("sortKey") or "CREATED_AT"
    sort = (
        (lambda o: o.get("completedAt") or "")
        if sort_key == "COMPLETED_AT"
        else (lambda o: o["createdAt"])
    )
    return paged(info, ops, args, sort)


def _r_current(_: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> Any:
    ops = [op for op in ctx_of(info).shop.bulk_operations.values() if op["type"] == type]
    return ops[-1] if ops else None


def _poll_field(name: str) -> Any:
    def resolve(op: dict[str, Any], info: GraphQLResolveInfo) -> Any:
        advance(ctx_of(info), op)
        return op.get(name)

    return resolve


def register(schema: GraphQLSchema) -> None:
    """Attach the bulk-operation resolvers to the twin's schema."""
    set_resolvers(schema, "Query", {"bulkOperation": _r_operation,
                                    "bulkOperations": _r_operations,
                                    "currentBulkOperation": _r_current})
    set_resolvers(schema, "Mutation", {"bulkOperationRunQuery": _m_run_query,
                                       "bulkOperationCancel": _m_cancel})
    t = schema.get_type("BulkOperation")
    assert isinstance(t, GraphQLObjectType)
    for name, f in t.fields.items():
        f.resolve = _poll_field(name)
