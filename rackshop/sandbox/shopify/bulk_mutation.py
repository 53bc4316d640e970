"""Bulk mutations: ``stagedUploadsCreate``, the upload target, ``bulkOperationRunMutation``.

As at Shopify (shopify.dev, "Bulk import data with the GraphQL Admin API"):

1. ``stagedUploadsCreate(input: [{resource: BULK_MUTATION_VARIABLES, filename, mimeType,
   httpMethod: POST}])`` answers a target: ``url`` (here ``POST /shops/{shop}/staged-uploads`` on
   the twin's own server, where Shopify gives a signed cloud-storage form), ``resourceUrl: null``
   and ``parameters``: ``key`` (the path to pass as ``stagedUploadPath``), ``Content-Type``,
   ``success_action_status`` (201), ``acl``, ``policy`` and signature fields.
2. The client POSTs those parameters and then the file as ``multipart/form-data``. The target
   answers 201 with the storage's XML; a file over :data:`UPLOAD_LIMIT` bytes (100 MB from API
   version 2026-01, Shopify's changelog "Faster bulk operations") is refused with 400
   ``EntityTooLarge``, as the storage does; a wrong signature with 403.
3. ``bulkOperationRunMutation(mutation:, stagedUploadPath:, clientIdentifier:)`` refuses, in
   ``userErrors`` (``BulkMutationUserError``): a mutation that does not parse, is not one
   mutation with one root field, or does not validate (``INVALID_MUTATION``); a path nobody
   uploaded to (``NO_SUCH_FILE``); a file whose lines are not JSON objects
   (``INVALID_STAGED_UPLOAD_FILE``); more concurrent bulk mutations than the version allows
   (``OPERATION_IN_PROGRESS``: five from 2026-01, one before). The twin's messages are its own
   wording; the codes are Shopify's.
4. The operation (``type: MUTATION``) goes through the lifecycle of bulk queries (``bulk.py``:
   ``CREATED`` → ``RUNNING`` → ``COMPLETED``, eventual-consistency timings included, an
   operation nobody polls finishing in the background). When it runs, each line's variables go
   through the mutation as one uncharged request of its own (coercion, input limits and
   resolvers as for any request), and the result file has one line per input line, in order:
   ``{"data": {...}, "__lineNumber": n}`` (0-based), or ``{"errors": [...], "__lineNumber": n}``
   for a line whose variables were refused. ``objectCount`` counts the lines.

Cost: ``stagedUploadsCreate`` and ``bulkOperationRunMutation`` are charged as any mutation
(``cost.py``); the lines run inside the operation draw nothing from the bucket (Shopify: bulk
operations are not subject to the rate limit). Scopes: a mutation the token's scopes do not
cover ends the operation ``FAILED`` with ``ACCESS_DENIED`` (``scopes.py``), as bulk queries do.
"""

from __future__ import annotations

import hmac
import json
import secrets
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)

from . import bulk
from .catalog import ctx_of, input_dict, user_error
from .cost import selected_fields
from .graphql_errors import parse_error_message, validation_errors
from .state import Context, ShopState, set_resolvers

#: The largest file the upload target takes, in bytes (100 MB; 20 MB before 2026-01).
UPLOAD_LIMIT = 100 * 1024 * 1024
UPLOAD_LIMIT_BEFORE_2026_01 = 20 * 1024 * 1024
UPLOAD_PATH = "staged-uploads"


def _mutation_error(message: str, code: str, field: list[str] | None = None) -> dict[str, Any]:
    return {"bulkOperation": None, "userErrors": [user_error(field, message, code)]}


# -- stagedUploadsCreate and the upload target ---------------------------------------------------


def _m_staged_uploads(_: Any, info: GraphQLResolveInfo, input: list[Any]) -> Any:
    ctx = ctx_of(info)
    shop = ctx.shop
    targets = []
    for n, raw in enumerate(input):
        item = input_dict(raw)
        if item.get("resource") != "BULK_MUTATION_VARIABLES":
            # The twin stages only what bulk mutations need.
            return {"stagedTargets": None, "userErrors": [user_error(
                ["input", str(n), "resource"],
                "The twin stages BULK_MUTATION_VARIABLES files only")]}
        key = f"tmp/{shop.shop_no}/bulk/{secrets.token_hex(16)}/{item.get('filename') or 'file'}"
        signature = secrets.token_hex(32)
        limit = UPLOAD_LIMIT if ctx.version_at_least("2026-01") else UPLOAD_LIMIT_BEFORE_2026_01
        shop.staged_uploads[key] = {"signature": signature, "data": None, "limit": limit,
                                    "mime": str(item.get("mimeType") or "")}
        params = [("key", key), ("Content-Type", str(item.get("mimeType") or "")),
                  ("success_action_status", "201"), ("acl", "private"),
                  ("policy", secrets.token_hex(24)),
                  ("x-goog-credential", "twin-uploads/auto/storage/goog4_request"),
                  ("x-goog-algorithm", "GOOG4-RSA-SHA256"),
                  ("x-goog-date", shop.now_iso().replace("-", "").replace(":", "")),
                  ("x-goog-signature", signature)]
        targets.append({"url": f"{ctx.base_url}/shops/{shop.name}/{UPLOAD_PATH}/",
                        "resourceUrl": None,
                        "parameters": [{"name": k, "value": v} for k, v in params]})
    return {"stagedTargets": targets, "userErrors": []}


def _storage_error(status: int, code: str, message: str) -> tuple[int, bytes, str]:
    body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>")
    return status, body.encode(), "application/xml; charset=UTF-8"


def upload(shop: ShopState, content_type: str, body: bytes) -> tuple[int, bytes, str]:
    """The upload target: a ``multipart/form-data`` POST of the staged parameters and the file.

    Returns (HTTP status, body, content type), as the storage answers.
    """
    if "multipart/form-data" not in content_type.lower():
        return _storage_error(400, "InvalidArgument", "POST requires multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    data: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            data = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    staged = shop.staged_uploads.get(fields.get("key", ""))
    if staged is None or not hmac.compare_digest(fields.get("x-goog-signature", ""),
                                                 staged["signature"]):
        return _storage_error(403, "AccessDenied", "Invalid or missing policy signature")
    if data is None:
        return _storage_error(400, "InvalidArgument", "The form has no file field")
    if len(data) > staged["limit"]:
        return _storage_error(400, "EntityTooLarge",
                              "Your proposed upload exceeds the maximum allowed size")
    staged["data"] = data
    key = fields["key"]
    answer = (f"<?xml version='1.0' encoding='UTF-8'?><PostResponse><Location>{key}</Location>"
              f"<Bucket>twin-staged-uploads</Bucket><Key>{key}</Key><ETag>\"{len(data)}\"</ETag>"
              "</PostResponse>")
    return int(fields.get("success_action_status") or 201), answer.encode(), "application/xml"


# -- bulkOperationRunMutation ----------------------------------------------------------------------


def _check_mutation(schema: GraphQLSchema, text: str) -> tuple[str | None, DocumentNode | None]:
    """(why the mutation is refused, or None; its document)."""
    try:
        doc = parse(text)
    except GraphQLError as exc:
        return f"Failed to parse the mutation - {parse_error_message(exc)}", None
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if len(ops) != 1 or ops[0].operation != OperationType.MUTATION:
        return "Bulk mutations must contain exactly one mutation operation.", None
    roots = list(selected_fields(ops[0].selection_set, {}))
    if len(roots) != 1:
        return "Bulk mutations must contain exactly one top-level mutation field.", None
    errors = validation_errors(schema, doc)
    if errors:
        return f"Invalid mutation: {errors[0]['message']}", None
    if roots[0].name.value == "bulkOperationRunMutation":
        return "A bulk mutation cannot run bulkOperationRunMutation.", None
    return None, doc


def _lines(data: bytes) -> list[dict[str, Any]] | None:
    """The variables of each line, or ``None`` when a line is not a JSON object."""
    out = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        out.append(value)
    return out


def _run_lines(ctx: Context, op: dict[str, Any], doc: DocumentNode
               ) -> tuple[bytes, int, int, list[str]]:
    """Each line's variables through the mutation (one uncharged request each); the result
    file's lines in input order with ``__lineNumber``."""
    out = []
    for number, variables in enumerate(op["_lines"]):
        answer = ctx.twin.run_graphql(ctx.shop, {"query": op["query"], "variables": variables},
                                      api_version=ctx.api_version, base_url=ctx.base_url)
        line = {k: v for k, v in answer.items() if k in ("data", "errors")}
        line["__lineNumber"] = number
        out.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return b"".join(out), len(out), len(out), []


def _m_run_mutation(_: Any, info: GraphQLResolveInfo, mutation: str, stagedUploadPath: str,
                    groupObjects: bool = True, clientIdentifier: str | None = None) -> Any:
    ctx = ctx_of(info)
    why, doc = _check_mutation(info.schema, mutation)
    if why is not None:
        return _mutation_error(why, "INVALID_MUTATION", ["mutation"])
    staged = ctx.shop.staged_uploads.get(stagedUploadPath)
    if staged is None or staged["data"] is None:
        return _mutation_error(
            "The JSONL file could not be found. Upload the file again and check the "
            "stagedUploadPath.", "NO_SUCH_FILE", ["stagedUploadPath"])
    lines = _lines(staged["data"])
    if lines is None:
        return _mutation_error("Unexpected file structure - expected JSONL",
                               "INVALID_STAGED_UPLOAD_FILE", ["stagedUploadPath"])
    busy = bulk.in_progress(ctx, "MUTATION")
    if busy:
        return {"bulkOperation": None, "userErrors": [busy]}
    op = bulk.new_operation(ctx, "MUTATION", mutation, doc, _lines=lines, _run=_run_lines,
                            _client_identifier=clientIdentifier)
    return {"bulkOperation": op, "userErrors": []}


def register(schema: GraphQLSchema) -> None:
    """Attach the resolvers of staged uploads and bulk mutations."""
    set_resolvers(schema, "Mutation", {"stagedUploadsCreate": _m_staged_uploads,
                                       "bulkOperationRunMutation": _m_run_mutation})
