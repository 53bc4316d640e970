"""Bulk operations: queries (start one, poll it, stream its JSONL result) and mutations
(stage a JSONL file of variables, run a mutation once per line, read the per-line results).

A bulk operation reads a whole catalogue for a handful of calls, whatever its size: one
``bulkOperationRunQuery``, a few ``bulkOperation(id:)`` polls, and one download of a JSONL file.
Shopify writes one JSON object per line; each node of a *nested* connection is a line of its own
with ``"__parentId"`` naming its parent, after the parent (see ``reference/shopify-admin-api.md``
section 4).

:func:`run_bulk_query` yields those lines one by one. The file is downloaded to a temporary
file first (memory stays flat however large the catalogue, and a download that breaks off is
started again before anything was yielded), then read line by line.

Inner queries take no variables and, to be safe, no fragments. Keep them as documents of their
own (``documents/BulkProducts.graphql``: validated against Shopify's schema like every other
document) and inline their variables with :func:`bulk_query_text`.

A bulk mutation (:func:`stage_jsonl`, :func:`start_bulk_mutation`, :func:`mutation_results`)
runs a packaged mutation document once per line of a staged JSONL file: one
``stagedUploadsCreate``, one multipart upload, one ``bulkOperationRunMutation``, a few polls and
one download, whatever the number of lines; the lines draw nothing from the rate limit. The
mutation text (:func:`bulk_mutation_text`) has its fragments inlined and its root field aliased
with a token of the caller's, so that a start whose answer was lost can be found among the shop's
operations (:func:`find_bulk_mutation`) instead of being started twice.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

import requests
from graphql import (
    BooleanValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from urllib3 import encode_multipart_formdata

from rackshop.errors import (
    ApiContractError,
    ApiUnavailableError,
    AuthError,
    ShopifyUserErrors,
)
from rackshop.shopify.client import ShopifyClient, load_document, parse_user_errors

log = logging.getLogger("rackshop.shopify.bulk")

TERMINAL = frozenset({"COMPLETED", "CANCELED", "FAILED", "EXPIRED"})
#: Seconds between polls: the first poll at once, then slowly longer (capped at the last).
DEFAULT_POLL_DELAYS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
#: How often to try again when the shop already runs as many bulk queries as it allows.
IN_PROGRESS_ATTEMPTS = 20
CHUNK = 1 << 16


# -- inner query text ----------------------------------------------------------------------------


def _literal(value: Any) -> ValueNode:
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, Mapping):
        return ObjectValueNode(fields=tuple(
            ObjectFieldNode(name=NameNode(value=str(k)), value=_literal(v))
            for k, v in value.items()))
    if isinstance(value, Sequence):
        return ListValueNode(values=tuple(_literal(v) for v in value))
    raise TypeError(f"cannot inline a {type(value).__name__} into a GraphQL document")


class _Inline(Visitor):
    def __init__(self, variables: Mapping[str, Any]) -> None:
        super().__init__()
        self.variables = variables

    def enter_variable_definition(self, *_: Any) -> Any:
        return self.REMOVE

    def enter_argument(self, node: Any, *_: Any) -> Any:
        value = node.value
        if isinstance(value, VariableNode) and self.variables.get(value.name.value) is None:
            return self.REMOVE  # left out: the argument's default applies
        return None

    def enter_variable(self, node: Any, *_: Any) -> Any:
        return _literal(self.variables.get(node.name.value))


def inline_variables(document: str, variables: Mapping[str, Any]) -> str:
    """Replace every ``$variable`` of a document by its value as a literal.

    An argument whose variable is missing or ``None`` is left out, so its default applies
    (``products(query: $query)`` becomes ``products``). Bulk operations take the inner query as
    a string without variables; this keeps the inner query a normal, schema-validated document
    with variables.
    """
    return str(print_ast(visit(parse(document), _Inline(variables))))


def bulk_query_text(name: str, variables: Mapping[str, Any] | None = None) -> str:
    """The packaged document ``name`` with ``variables`` inlined, ready for a bulk operation."""
    return inline_variables(load_document(name), variables or {})


# -- running -------------------------------------------------------------------------------------


class BulkOperationFailed(ApiUnavailableError):
    """The bulk operation ended FAILED, CANCELED or EXPIRED."""


def start_bulk_query(client: ShopifyClient, inner_query: str, *,
                     sleep: Callable[[float], None] | None = None,
                     wait: float = 5.0) -> str:
    """Start a bulk query; returns the operation id.

    Starting one twice is harmless (it only reads), so the call is retried like a read; when the
    shop already runs as many bulk queries as it allows (``OPERATION_IN_PROGRESS``), it waits and
    tries again.

    Raises:
        ApiContractError: Shopify refused the inner query (a rackshop bug).
        ApiUnavailableError: The shop stayed busy with other bulk queries.
    """
    sleep = sleep or client.sleep
    for _ in range(IN_PROGRESS_ATTEMPTS):
        data = client.execute(load_document("BulkOperationRunQuery"), {"query": inner_query},
                              name="BulkOperationRunQuery", idempotent=True).data
        payload = data.get("bulkOperationRunQuery") or {}
        errors = parse_user_errors(payload)
        if not errors:
            op = payload.get("bulkOperation") or {}
            if not op.get("id"):
                raise ApiContractError(
                    f"Shopify {client.shop}: bulkOperationRunQuery answered without an operation")
            return str(op["id"])
        if any(e.code == "OPERATION_IN_PROGRESS" for e in errors):
            log.info("%s: another bulk query is running; waiting %.0fs", client.shop, wait)
            sleep(wait)
            continue
        raise ApiContractError(
            f"Shopify {client.shop}: the bulk query was refused: "
            + "; ".join(str(e) for e in errors),
            hint="this is a rackshop bug (an invalid bulk query); please report it")
    raise ApiUnavailableError(
        f"Shopify {client.shop}: other bulk queries kept running; rackshop could not start one",
        hint="wait for the shop's other apps' bulk operations to finish and rerun")


def wait_for_bulk_operation(client: ShopifyClient, op_id: str, *,
                            poll_delays: Sequence[float] = DEFAULT_POLL_DELAYS,
                            sleep: Callable[[float], None] | None = None,
                            max_polls: int = 100_000,
                            failed_too: bool = False) -> dict[str, Any]:
    """Poll ``bulkOperation(id:)`` until it ends; returns the operation.

    ``failed_too``: return an operation that ended FAILED, CANCELED or EXPIRED too (a bulk
    mutation's caller reads what its partial result says was done), instead of raising.

    Raises:
        BulkOperationFailed: It ended FAILED, CANCELED or EXPIRED (unless ``failed_too``).
        AuthError: It failed with ACCESS_DENIED.
    """
    sleep = sleep or client.sleep
    for i in range(max_polls):
        delay = poll_delays[min(i, len(poll_delays) - 1)] if poll_delays else 0.0
        if delay > 0:
            sleep(delay)
        op = client.query("BulkOperation", {"id": op_id}).get("bulkOperation")
        if not isinstance(op, dict):
            raise ApiContractError(f"Shopify {client.shop}: bulk operation {op_id} vanished")
        status = str(op.get("status"))
        if status in TERMINAL:
            if status == "FAILED" and op.get("errorCode") == "ACCESS_DENIED":
                raise AuthError(
                    f"Shopify {client.shop}: bulk operation {op_id} was refused: access denied "
                    "(the app lacks a scope the bulk query needs)",
                    hint="grant the app the scopes rackshop needs (README, Troubleshooting); "
                    "`rackshop check --contract` lists the missing ones", api="shopify")
            if status != "COMPLETED" and not failed_too:
                raise BulkOperationFailed(
                    f"Shopify {client.shop}: bulk operation {op_id} ended {status}"
                    + (f" ({op.get('errorCode')})" if op.get("errorCode") else ""),
                    hint="rerun; rackshop starts a new bulk read (Shopify times out a bulk "
                    "operation that runs too long)")
            return op
    raise ApiUnavailableError(f"Shopify {client.shop}: bulk operation {op_id} did not finish")


def download_jsonl(client: ShopifyClient, url: str, out: IO[bytes]) -> int:
    """Download a result file into ``out``, streamed, through the shared retry policy.

    The URL is a signed storage link: it is fetched without the shop's token. A download that
    breaks off starts again from the beginning (``out`` is emptied first).

    Returns:
        The number of bytes written.
    """

    def save(resp: requests.Response) -> int:
        if resp.status_code != 200:
            raise ApiContractError(
                f"Shopify {client.shop}: the bulk result file answered HTTP {resp.status_code}",
                hint="rerun; the result link may have expired")
        out.seek(0)
        out.truncate()
        size = 0
        for chunk in resp.iter_content(CHUNK):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        return size

    return client.transport.request("GET", url, classify=save,
                                    operation="GET bulk result file", idempotent=True,
                                    stream=True)


def iter_jsonl(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL byte stream, one per non-empty line."""
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ApiContractError(f"bulk result line {number} is not JSON") from exc
        if not isinstance(obj, dict):
            raise ApiContractError(f"bulk result line {number} is not an object")
        yield obj


def run_bulk_query(client: ShopifyClient, inner_query: str, *,
                   poll_delays: Sequence[float] = DEFAULT_POLL_DELAYS,
                   sleep: Callable[[float], None] | None = None,
                   spool_bytes: int = 8 << 20) -> Iterator[dict[str, Any]]:
    """Run a bulk query and yield its JSONL lines (dicts; nested nodes carry ``__parentId``).

    Calls: one ``bulkOperationRunQuery``, a few ``bulkOperation`` polls, one download. Memory
    stays flat: the file is spooled to disk beyond ``spool_bytes`` and parsed line by line.

    Args:
        client: The shop's client.
        inner_query: The query (no variables, connections via ``edges { node }``, no paging
            arguments); see :func:`bulk_query_text`.
        poll_delays: Seconds to wait before each poll (the last repeats).
        sleep: Injected sleep (defaults to the client's).
        spool_bytes: Bytes kept in memory before the download spills to a temporary file.

    Raises:
        BulkOperationFailed: The operation ended other than COMPLETED.
        ApiContractError: Shopify refused the inner query.
    """
    op_id = start_bulk_query(client, inner_query, sleep=sleep)
    op = wait_for_bulk_operation(client, op_id, poll_delays=poll_delays, sleep=sleep)
    # COMPLETED with no objects: Shopify gives no file
    yield from result_lines(client, op.get("url"), spool_bytes=spool_bytes)


def result_lines(client: ShopifyClient, url: Any, *,
                 spool_bytes: int = 8 << 20) -> Iterator[dict[str, Any]]:
    """The lines of a bulk operation's result file at ``url`` (none when there is no file),
    spooled to disk beyond ``spool_bytes`` and parsed line by line."""
    if not url:
        return
    with tempfile.SpooledTemporaryFile(max_size=spool_bytes) as spool:
        download_jsonl(client, str(url), spool)
        spool.seek(0)
        yield from iter_jsonl(spool)



# -- bulk mutations ------------------------------------------------------------------------------


class BulkMutationBusy(ApiUnavailableError):
    """The shop already runs as many bulk mutations as it allows (``OPERATION_IN_PROGRESS``)."""


class _InlineFragments(Visitor):
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        super().__init__()
        self.fragments = fragments

    def enter_fragment_definition(self, *_: Any) -> Any:
        return self.REMOVE

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> Any:
        frag = self.fragments[node.name.value]
        inner = visit(frag.selection_set, self)
        return InlineFragmentNode(type_condition=NamedTypeNode(name=frag.type_condition.name),
                                  selection_set=inner, directives=())


class _AliasRoot(Visitor):
    def __init__(self, alias: str) -> None:
        super().__init__()
        self.alias = alias

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
        (root,) = node.selection_set.selections
        assert isinstance(root, FieldNode)
        aliased = FieldNode(alias=NameNode(value=self.alias), name=root.name,
                            arguments=root.arguments, directives=root.directives,
                            selection_set=root.selection_set)
        return OperationDefinitionNode(
            operation=node.operation, name=node.name,
            variable_definitions=node.variable_definitions, directives=node.directives,
            selection_set=type(node.selection_set)(selections=(aliased,)))


def bulk_mutation_text(name: str, alias: str) -> str:
    """The packaged mutation ``name`` for a bulk mutation: fragments inlined, its one root field
    aliased ``alias`` (the token :func:`find_bulk_mutation` looks for)."""
    doc = parse(load_document(name))
    fragments = {d.name.value: d for d in doc.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    flat = visit(doc, _InlineFragments(fragments))
    return str(print_ast(visit(flat, _AliasRoot(alias))))


def jsonl_bytes(lines: Sequence[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line."""
    return b"".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for line in lines)


def stage_jsonl(client: ShopifyClient, data: bytes, filename: str = "bulk_op_vars.jsonl") -> str:
    """Upload a JSONL file of variables to a staged target; returns its ``stagedUploadPath``.

    The target is a signed storage form: the file goes there without the shop's token, as a
    multipart POST of the target's parameters followed by the file. Uploading again to the same
    key replaces the file, so the upload is retried like a read.
    """
    payload = client.execute(load_document("StagedUploadsCreate"), {"input": [{
        "resource": "BULK_MUTATION_VARIABLES", "filename": filename, "mimeType": "text/jsonl",
        "httpMethod": "POST"}]}, name="StagedUploadsCreate", idempotent=True,
    ).data.get("stagedUploadsCreate") or {}
    errors = parse_user_errors(payload)
    if errors:
        raise ShopifyUserErrors("stagedUploadsCreate", errors)
    targets = payload.get("stagedTargets") or []
    if not targets or not targets[0].get("url"):
        raise ApiContractError(f"Shopify {client.shop}: stagedUploadsCreate gave no target")
    params = [(str(p["name"]), str(p["value"])) for p in targets[0].get("parameters") or []]
    path = next((v for k, v in params if k == "key"), None)
    if not path:
        raise ApiContractError(f"Shopify {client.shop}: the staged target has no key")
    body, content_type = encode_multipart_formdata(
        [*params, ("file", (filename, data, "text/jsonl"))])

    def sent(resp: requests.Response) -> None:
        if resp.status_code not in (200, 201, 204):
            raise ApiContractError(
                f"Shopify {client.shop}: the staged upload answered HTTP {resp.status_code}"
                + (" (the file is over the upload limit)" if "EntityTooLarge" in resp.text
                   else ""),
                hint="rerun; if it repeats, set the shop's products.bulk_above = 0 to send "
                     "every write one call each")

    client.transport.request("POST", str(targets[0]["url"]), classify=sent,
                             operation="POST staged upload", idempotent=True,
                             headers={"Content-Type": content_type}, data=body)
    return str(path)


def start_bulk_mutation(client: ShopifyClient, mutation: str, path: str,
                        client_identifier: str | None = None) -> str:
    """Start a bulk mutation over a staged file; returns the operation id.

    Not retried on an unknown outcome (it writes): the caller settles that with
    :func:`find_bulk_mutation`.

    Raises:
        BulkMutationBusy: The shop runs as many bulk mutations as it allows.
        ApiContractError: Shopify refused the mutation or the file (a rackshop bug).
        OutcomeUnknownError: The answer was lost.
    """
    data = client.execute(load_document("BulkOperationRunMutation"),
                          {"mutation": mutation, "path": path, "client": client_identifier},
                          name="BulkOperationRunMutation", idempotent=False).data
    payload = data.get("bulkOperationRunMutation") or {}
    errors = parse_user_errors(payload)
    if any(e.code == "OPERATION_IN_PROGRESS" for e in errors):
        raise BulkMutationBusy(
            f"Shopify {client.shop}: the shop already runs as many bulk mutations as it allows",
            hint="the writes go one by one this pass")
    if errors:
        raise ApiContractError(
            f"Shopify {client.shop}: the bulk mutation was refused: "
            + "; ".join(str(e) for e in errors),
            hint="this is a rackshop bug (an invalid bulk mutation or file); please report it")
    op = payload.get("bulkOperation") or {}
    if not op.get("id"):
        raise ApiContractError(
            f"Shopify {client.shop}: bulkOperationRunMutation answered without an operation")
    return str(op["id"])


def find_bulk_mutation(client: ShopifyClient, alias: str, newest: int = 20) -> str | None:
    """The id of the shop's bulk mutation whose mutation carries ``alias``, among the newest
    ``newest``; ``None`` when it was never started."""
    data = client.query("BulkMutations", {"first": newest})
    for node in (data.get("bulkOperations") or {}).get("nodes") or []:
        if f"{alias}:" in str(node.get("query") or ""):
            return str(node["id"])
    return None


def mutation_results(client: ShopifyClient, op: Mapping[str, Any], *,
                     spool_bytes: int = 8 << 20) -> Iterator[tuple[int, dict[str, Any]]]:
    """The lines of a finished bulk mutation's result file (``url``, else ``partialDataUrl``):
    (``__lineNumber``, the line), in file order."""
    for line in result_lines(client, op.get("url") or op.get("partialDataUrl"),
                             spool_bytes=spool_bytes):
        number = line.get("__lineNumber")
        if not isinstance(number, int):
            raise ApiContractError(f"Shopify {client.shop}: a bulk mutation result line has "
                                   "no __lineNumber")
        yield number, line
