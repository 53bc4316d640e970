"""Shopify's ``query:`` search syntax: a small parser and an evaluator over twin records.

Supported (https://shopify.dev/docs/api/usage/search-syntax): ``field:value`` terms, implicit
AND, ``AND``/``OR`` connectives, ``NOT`` and ``-`` negation, parentheses, comparators
``:<``, ``:<=``, ``:>``, ``:>=``, quoted values (``'...'`` or ``"..."``), ``field:*`` (has a
value), trailing ``*`` prefix matches, comma lists for tag-like fields, and bare words searched in
a resource's default text fields.

Like Shopify, an unknown field does not fail the query: the term is ignored and a warning is
reported (``extensions.search``), so filters the twin does not know never hide data silently
without a trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .state import parse_gid

KINDS = ("string", "text", "time", "id", "number", "boolean", "tag")


@dataclass(frozen=True)
class Field:
    """A searchable field of a resource.

    Attributes:
        get: Reads the value(s) from a record: a scalar or a list (any element may match).
        kind: ``string`` (case-insensitive equality, ``*`` prefix), ``text`` (word or substring
            match), ``time`` (ISO timestamps, comparable), ``id`` (numeric id or gid,
            comparable), ``number``, ``boolean`` or ``tag`` (equality, comma list = any).
        negate: The field matches records where the term does *not* hold (``tag_not``).
    """

    get: Callable[[Any], Any]
    kind: str = "string"
    negate: bool = False


@dataclass
class Term:
    field: str | None
    op: str
    value: str
    negated: bool = False


@dataclass
class Node:
    kind: str  # "and" | "or" | "not" | "term"
    children: list[Node] = field(default_factory=list)
    term: Term | None = None


class SearchSyntaxError(ValueError):
    """The query string cannot be parsed at all."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\()|(?P<rp>\))|
        (?P<word>
            -?
            (?:[^\s()'":]+:)?            # optional field:
            (?:<=|>=|<|>|=)?              # optional comparator
            (?:'[^']*'|"[^"]*"|[^\s()]*)  # value
        )
    )""",
    re.VERBOSE,
)

_TERM = re.compile(
    r"""^(?P<neg>-)?(?:(?P<field>[^\s()'":]+):\s*)?(?P<op><=|>=|<|>|=)?(?P<value>.*)$""", re.S
)


def _tokens(query: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(query):
        if query[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise SearchSyntaxError(f"cannot parse search query near {query[pos:]!r}")
        tok = m.group(0).strip()
        if tok:
            out.append(tok)
        pos = m.end()
    # ``field: value`` with a space after the colon: join it back.
    joined: list[str] = []
    for tok in out:
        if joined and joined[-1].endswith(":") and tok not in ("(", ")", "AND", "OR", "NOT"):
            joined[-1] += tok
        else:
            joined.append(tok)
    return joined


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def parse(query: str) -> Node:
    """Parse a search string into an AST (an empty query is an empty AND).

    Raises:
        SearchSyntaxError: Unbalanced parentheses or an unreadable term.
    """
    toks = _tokens(query or "")
    pos = 0

    def parse_or() -> Node:
        nonlocal pos
        left = parse_and()
        children = [left]
        while pos < len(toks) and toks[pos] == "OR":
            pos += 1
            children.append(parse_and())
        return children[0] if len(children) == 1 else Node("or", children)

    def parse_and() -> Node:
        nonlocal pos
        children: list[Node] = []
        while pos < len(toks) and toks[pos] not in (")", "OR"):
            if toks[pos] == "AND":
                pos += 1
                continue
            children.append(parse_not())
        return children[0] if len(children) == 1 else Node("and", children)

    def parse_not() -> Node:
        nonlocal pos
        if toks[pos] == "NOT":
            pos += 1
            if pos >= len(toks):
                raise SearchSyntaxError("NOT without a term")
            return Node("not", [parse_not()])
        if toks[pos] == "(":
            pos += 1
            inner = parse_or()
            if pos >= len(toks) or toks[pos] != ")":
                raise SearchSyntaxError("unbalanced parentheses")
            pos += 1
            return inner
        tok = toks[pos]
        pos += 1
        m = _TERM.match(tok)
        if not m:  # pragma: no cover - the tokenizer only yields matchable words
            raise SearchSyntaxError(f"cannot parse term {tok!r}")
        term = Term(
            field=m.group("field"),
            op=m.group("op") or ":",
            value=_unquote(m.group("value")),
            negated=bool(m.group("neg")),
        )
        return Node("term", term=term)

    root = parse_or() if toks else Node("and", [])
    if pos < len(toks):
        raise SearchSyntaxError(f"unexpected {toks[pos]!r}")
    return root


def parsed_term(query: str | None) -> dict[str, str] | None:
    """``extensions.search[].parsed`` for a query of one plain ``field:value`` term, as Shopify
    answers it (recorded: ``{"field": "location_id", "match_all": "113884266802"}``). ``None``
    for anything else: the shape Shopify gives other queries is not on record."""
    try:
        node = parse(query or "")
    except SearchSyntaxError:
        return None
    term = node.term if node.kind == "term" else None
    if term is None or term.field is None or term.negated or term.op != ":":
        return None
    return {"field": term.field, "match_all": term.value}


def terms(node: Node) -> list[Term]:
    """Every term in a query AST."""
    if node.kind == "term":
        assert node.term is not None
        return [node.term]
    return [t for c in node.children for t in terms(c)]


# -- evaluation -------------------------------------------------------------------------------


def _parse_time(v: str) -> float | None:
    s = v.strip()
    if not s:
        return None
    if s.lower() == "now":
        return datetime.now(tz=UTC).timestamp()
    s = s.replace("Z", "+00:00")
    for fmt in (None, "%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            dt = datetime.fromisoformat(s) if fmt is None else datetime.strptime(s, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def _as_id(v: Any) -> int | None:
    parsed = parse_gid(v)
    if parsed:
        return parsed[1]
    try:
        return int(str(v))
    except ValueError:
        return None


def _compare(a: Any, op: str, b: Any) -> bool:
    if a is None or b is None:
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    return bool(a == b)


def _match_one(kind: str, actual: Any, op: str, value: str) -> bool:
    if actual is None:
        return False
    if kind == "time":
        return _compare(_parse_time(str(actual)), op, _parse_time(value))
    if kind == "id":
        return _compare(_as_id(actual), op, _as_id(value))
    if kind == "number":
        try:
            return _compare(float(actual), op, float(value))
        except ValueError:
            return False
    if kind == "boolean":
        return str(actual).lower() == value.lower()
    a = str(actual).lower()
    v = value.lower()
    if op in ("<", "<=", ">", ">="):
        return _compare(a, op, v)
    if v.endswith("*"):
        return a.startswith(v[:-1]) or (kind == "text" and v[:-1] in a)
    if kind == "text":
        return v in a
    return a == v


def _values(v: Any) -> list[Any]:
    if isinstance(v, (list, tuple, set)):
        return list(v)
    return [v]


@dataclass
class Search:
    """A compiled search over one kind of record.

    Attributes:
        query: The original query string.
        warnings: Shopify-style warnings (``{"field", "message", "code"}``) for ignored terms.
    """

    query: str
    root: Node
    fields: Mapping[str, Field]
    default: Callable[[Any], list[str]] | None
    warnings: list[dict[str, str]] = field(default_factory=list)

    def matches(self, record: Any) -> bool:
        """Whether a record satisfies the query."""
        return self._eval(self.root, record)

    def _eval(self, node: Node, record: Any) -> bool:
        if node.kind == "and":
            return all(self._eval(c, record) for c in node.children)
        if node.kind == "or":
            return any(self._eval(c, record) for c in node.children)
        if node.kind == "not":
            return not self._eval(node.children[0], record)
        assert node.term is not None
        return self._term(node.term, record)

    def _term(self, t: Term, record: Any) -> bool:
        if t.field is None:
            if self.default is None or not t.value:
                return True
            words = [w.lower() for w in self.default(record) if w]
            v = t.value.lower().rstrip("*")
            hit = any(v in w for w in words)
            return hit != t.negated
        spec = self.fields.get(t.field)
        if spec is None:
            return True  # ignored, with a warning (see compile_search)
        actual = _values(spec.get(record))
        if t.value == "*" and t.op == ":":
            hit = any(a not in (None, "", []) for a in actual)
        else:
            wanted = [t.value]
            if spec.kind in ("tag", "string") and "," in t.value and t.op == ":":
                wanted = [w.strip() for w in t.value.split(",") if w.strip()]
            hit = any(_match_one(spec.kind, a, t.op, w) for a in actual for w in wanted)
        if spec.negate:
            hit = not hit
        return hit != t.negated


def compile_search(
    query: str | None,
    fields: Mapping[str, Field],
    *,
    default: Callable[[Any], list[str]] | None = None,
) -> Search:
    """Compile a ``query:`` string for a resource.

    Args:
        query: The search string (``None`` or empty matches everything).
        fields: The resource's searchable fields (``updated_at``, ``sku``, ``tag``...).
        default: Text of a record that bare words search in.

    Returns:
        A :class:`Search`; its ``warnings`` list the fields the resource does not know.
    """
    q = query or ""
    try:
        root = parse(q)
    except SearchSyntaxError:
        # Shopify treats what it cannot parse as plain text.
        root = Node("term", term=Term(field=None, op=":", value=q))
    search = Search(q, root, fields, default)
    seen: set[str] = set()
    for t in terms(root):
        if t.field is not None and t.field not in fields and t.field not in seen:
            seen.add(t.field)
            search.warnings.append(
                {
                    "field": t.field,
                    "message": "Invalid search field for this query.",
                    "code": "invalid_field",
                }
            )
    return search


def is_valid_filter(query: str) -> bool:
    """Whether a webhook ``filter`` names the field(s) it filters on (empty is valid)."""
    if not query.strip():
        return True
    try:
        root = parse(query)
    except SearchSyntaxError:
        return False
    ts = terms(root)
    return bool(ts) and all(t.field for t in ts)
