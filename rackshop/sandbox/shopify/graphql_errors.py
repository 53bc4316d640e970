"""GraphQL errors in Shopify's shapes: parse and validation errors worded and coded as
graphql-ruby (Shopify's server) words them, execution errors, the cost limit's message."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableDefinitionNode,
    Visitor,
    print_ast,
    validate,
    visit,
)

from . import cost


def parse_error_message(exc: GraphQLError) -> str:
    """A graphql-core syntax error worded as Shopify's parser words it."""
    desc = str(getattr(exc, "description", "") or exc.message)
    if "<EOF>" in desc:
        return "syntax error, unexpected end of file"
    m = re.search(r"(?:found|Unexpected) (?:'([^']*)'|(\w+) \"([^\"]*)\"|(\w+))", desc)
    if m:
        token = m.group(1) or m.group(3) or m.group(4) or ""
        return f"syntax error, unexpected {token}"
    return f"syntax error, {desc.rstrip('.')}"


def node_locations(nodes: Iterable[Node]) -> list[dict[str, int]]:
    """The ``locations`` entry of an error: line and column of each node."""
    out = []
    for n in nodes:
        if n is not None and n.loc is not None:
            loc = n.loc.source.get_location(n.loc.start)
            out.append({"line": loc.line, "column": loc.column})
    return out


class _DocIndex:
    """Where every node of a document sits: its path (as graphql-ruby names it), its field,
    argument and operation."""

    def __init__(self, doc: DocumentNode) -> None:
        self.path: dict[int, list[str]] = {}
        self.field: dict[int, FieldNode] = {}
        self.argument: dict[int, ArgumentNode] = {}
        self.directive: dict[int, DirectiveNode] = {}
        self.owner: dict[int, Node] = {}
        for d in doc.definitions:
            if isinstance(d, OperationDefinitionNode):
                label = d.operation.value + (f" {d.name.value}" if d.name else "")
            elif isinstance(d, FragmentDefinitionNode):
                label = f"fragment {d.name.value}"
            else:
                continue
            self._walk(d, [label], None, None, None, d)

    def _walk(
        self,
        node: Any,
        path: list[str],
        field: FieldNode | None,
        arg: ArgumentNode | None,
        directive: DirectiveNode | None,
        owner: Node,
    ) -> None:
        if not isinstance(node, Node):
            return
        key = id(node)
        if isinstance(node, FieldNode):
            path = [*path, node.alias.value if node.alias else node.name.value]
            field = node
            arg = None
            directive = None
        elif isinstance(node, ArgumentNode):
            path = [*path, node.name.value]
            arg = node
        elif isinstance(node, DirectiveNode):
            directive = node
        elif isinstance(node, InlineFragmentNode):
            cond = node.type_condition.name.value if node.type_condition else ""
            path = [*path, f"... on {cond}" if cond else "..."]
        elif isinstance(node, FragmentSpreadNode):
            path = [*path, f"... {node.name.value}"]
        self.path[key] = path
        if field is not None:
            self.field[key] = field
        if arg is not None:
            self.argument[key] = arg
        if directive is not None:
            self.directive[key] = directive
        self.owner[key] = owner
        for attr in node.keys:
            if attr == "loc":
                continue
            child = getattr(node, attr, None)
            children = child if isinstance(child, (list, tuple)) else [child]
            for c in children:
                if isinstance(c, Node):
                    self._walk(c, path, field, arg, directive, owner)


def _root_name(name: str, schema: GraphQLSchema) -> str:
    """Shopify calls the query root ``QueryRoot``."""
    if schema.query_type is not None and name == schema.query_type.name:
        return "QueryRoot"
    return name


def _op_label(owner: Node | None) -> str:
    if isinstance(owner, OperationDefinitionNode):
        if owner.name:
            return owner.name.value
        return f"anonymous {owner.operation.value}"
    if isinstance(owner, FragmentDefinitionNode):
        return owner.name.value
    return "anonymous query"


def _argument_types(schema: GraphQLSchema, doc: DocumentNode) -> dict[int, str]:
    """The declared type of every argument node in a document."""
    types: dict[int, str] = {}
    info = TypeInfo(schema)

    class Collect(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            arg = info.get_argument()
            if arg is not None:
                types[id(node)] = str(arg.type)

    visit(doc, TypeInfoVisitor(info, Collect()))
    return types


class _Report:
    """The validation errors of one document, added one graphql-core message at a time."""

    def __init__(self, schema: GraphQLSchema, doc: DocumentNode) -> None:
        self.schema = schema
        self.doc = doc
        self.idx = _DocIndex(doc)
        self.arg_types = _argument_types(schema, doc)
        self.out: list[dict[str, Any]] = []
        #: node -> its ``missingRequiredArguments`` error (one error lists every missing one)
        self.missing: dict[int, dict[str, Any]] = {}
        #: arguments whose invalid literal is reported already (once per argument)
        self.literal_args: set[int] = set()

    def add(
        self, message: str, nodes: list[Node], path_node: Node | None, ext: dict[str, Any]
    ) -> dict[str, Any]:
        err: dict[str, Any] = {"message": message, "locations": node_locations(nodes)}
        if path_node is not None and id(path_node) in self.idx.path:
            err["path"] = self.idx.path[id(path_node)]
        err["extensions"] = ext
        self.out.append(err)
        return err

    def owner(self, node: Node | None) -> Node | None:
        """The operation or fragment a node belongs to."""
        return self.idx.owner.get(id(node)) if node is not None else None


#: graphql-core messages that map to one graphql-ruby error each: (pattern, message, code,
#: extensions besides the code, whether the error carries the node's path); ``{0}``, ``{1}``
#: are the pattern's groups.
# fmt: off
_ONE_TO_ONE_RULES: tuple[tuple[str, str, str, dict[str, str], bool], ...] = (
    (r"Unknown argument '([^']+)' on field '[^.']+\.([^']+)'",
     "Field '{1}' doesn't accept argument '{0}'", "argumentNotAccepted",
     {"name": "{1}", "typeName": "Field", "argumentName": "{0}"}, True),
    (r"Unknown argument '([^']+)' on directive '@([^']+)'",
     "Directive '{1}' doesn't accept argument '{0}'", "argumentNotAccepted",
     {"name": "{1}", "typeName": "Directive", "argumentName": "{0}"}, True),
    (r"Unknown fragment '([^']+)'", "Fragment {0} was used, but not defined",
     "useAndDefineFragment", {"fragmentName": "{0}"}, True),
    (r"Fragment '([^']+)' is never used", "Fragment {0} was defined, but not used",
     "useAndDefineFragment", {"fragmentName": "{0}"}, True),
    (r"Unknown directive '@([^']+)'", "Directive @{0} is not defined", "undefinedDirective",
     {"directiveName": "{0}"}, True),
    (r"There can be only one operation named '([^']+)'", 'Operation name "{0}" must be unique',
     "operationNotUnique", {"operationName": "{0}"}, False),
)
# fmt: on
_ONE_TO_ONE = tuple(
    (re.compile(pattern), message, {"code": code, **ext}, with_path)
    for pattern, message, code, ext, with_path in _ONE_TO_ONE_RULES
)


def _one_to_one(r: _Report, msg: str, nodes: list[Node], first: Node | None) -> bool:
    for pattern, message, ext, with_path in _ONE_TO_ONE:
        m = pattern.match(msg)
        if m:
            groups = m.groups()
            r.add(
                message.format(*groups),
                nodes,
                first if with_path else None,
                {k: v.format(*groups) for k, v in ext.items()},
            )
            return True
    return False


def _field_errors(r: _Report, msg: str, nodes: list[Node], first: Node | None) -> bool:
    """Fields that do not exist, and selections on fields that need or refuse them."""
    m = re.match(r"Cannot query field '([^']+)' on type '([^']+)'", msg)
    if m:
        t = _root_name(m.group(2), r.schema)
        r.add(
            f"Field '{m.group(1)}' doesn't exist on type '{t}'",
            nodes,
            first,
            {"code": "undefinedField", "typeName": t, "fieldName": m.group(1)},
        )
        return True
    m = re.match(r"Field '([^']+)' of type '([^']+)' must have a selection of subfields", msg)
    if m:
        t = get_named_type_name(m.group(2))
        r.add(
            f"Field must have selections (field '{m.group(1)}' returns {t} but has no "
            "selections. "
            f"Did you mean '{m.group(1)} {{ ... }}'?)",
            nodes,
            first,
            {"code": "selectionMismatch", "nodeName": f"field '{m.group(1)}'", "typeName": t},
        )
        return True
    m = re.match(
        r"Field '([^']+)' must not have a selection since type '([^']+)' has no subfields", msg
    )
    if m:
        t = get_named_type_name(m.group(2))
        field = r.idx.field.get(id(first)) if first is not None else None
        subs = []
        if field is not None and field.selection_set is not None:
            subs = [
                s.name.value for s in field.selection_set.selections if isinstance(s, FieldNode)
            ]
        r.add(
            f"Selections can't be made on scalars (field '{m.group(1)}' returns {t} but has "
            f"selections [{', '.join(subs)}])",
            [field] if field is not None else nodes,
            field or first,
            {"code": "selectionMismatch", "nodeName": f"field '{m.group(1)}'", "typeName": t},
        )
        return True
    return False


def _missing_arguments(r: _Report, msg: str, nodes: list[Node], first: Node | None) -> bool:
    """Required arguments left out: one error per field or directive, naming them all."""
    m = re.match(
        r"Argument '(?:[^.'(]+\.)?@?([^('.]+)\(([^:]+):\)' of type '[^']+' is required", msg
    )
    if not m or first is None:
        return False
    kind = "Directive" if "'@" in msg else "Field"
    key = id(first)
    if key in r.missing:
        err = r.missing[key]
        err["_args"].append(m.group(2))
        names = ", ".join(err["_args"])
        err["extensions"]["arguments"] = names
        err["message"] = f"{kind} '{m.group(1)}' is missing required arguments: {names}"
        return True
    err = r.add(
        f"{kind} '{m.group(1)}' is missing required arguments: {m.group(2)}",
        nodes,
        first,
        {
            "code": "missingRequiredArguments",
            "className": kind,
            "name": m.group(1),
            "arguments": m.group(2),
        },
    )
    err["_args"] = [m.group(2)]
    r.missing[key] = err
    return True


def _variable_errors(r: _Report, msg: str, nodes: list[Node], first: Node | None) -> bool:
    """Variables of the wrong type, unused, undeclared, or of a type that does not exist."""
    m = re.match(
        r"Variable '\$([^']+)' of type '([^']+)' used in position expecting type '([^']+)'", msg
    )
    if m:
        var_node = nodes[-1] if nodes else None
        arg = r.idx.argument.get(id(var_node)) if var_node is not None else None
        arg_name = arg.name.value if arg else "?"
        r.add(
            f"Type mismatch on variable ${m.group(1)} and argument {arg_name} "
            f"({m.group(2)} / {m.group(3)})",
            [n for n in [arg or var_node] if n is not None],
            arg or var_node,
            {
                "code": "variableMismatch",
                "variableName": m.group(1),
                "typeName": m.group(2),
                "argumentName": arg_name,
                "errorMessage": "Type mismatch",
            },
        )
        return True
    m = re.match(r"Variable '\$([^']+)' is never used", msg)
    if m:
        owner = r.owner(first)
        r.add(
            f"Variable ${m.group(1)} is declared by {_op_label(owner)} but not used",
            nodes,
            owner,
            {"code": "variableNotUsed", "variableName": m.group(1)},
        )
        return True
    m = re.match(r"Variable '\$([^']+)' is not defined", msg)
    if m:
        r.add(
            f"Variable ${m.group(1)} is used by {_op_label(r.owner(first))} but not declared",
            nodes[:1],
            first,
            {"code": "variableNotDefined", "variableName": m.group(1)},
        )
        return True
    m = re.match(r"Unknown type '([^']+)'", msg)
    if not m:
        return False
    var_def = None
    for d in r.doc.definitions:
        for vd in getattr(d, "variable_definitions", None) or ():
            if first is not None and get_named_type_node(vd) is first:
                var_def = vd
    if var_def is not None:
        name = var_def.variable.name.value
        r.add(
            f"{m.group(1)} isn't a defined input type (on ${name})",
            [var_def],
            r.owner(first),
            {"code": "variableRequiresValidType", "typeName": m.group(1), "variableName": name},
        )
    else:
        r.add(
            f"No such type {m.group(1)}, so it can't be a fragment condition",
            nodes,
            first,
            {"code": "undefinedType", "typeName": m.group(1)},
        )
    return True


def _invalid_literal(r: _Report, msg: str, nodes: list[Node], first: Node | None) -> bool:
    """A literal that does not fit its argument's type (ValuesOfCorrectTypeRule): whatever
    error sits on an argument once no other rule has claimed it, reported once per argument."""
    arg = r.idx.argument.get(id(first)) if first is not None else None
    if arg is None:
        return False
    if id(arg) in r.literal_args:
        return True
    r.literal_args.add(id(arg))
    directive = r.idx.directive.get(id(arg))
    holder = r.idx.field.get(id(arg))
    if directive is not None:
        where, kind = directive.name.value, "Directive"
    else:
        where, kind = (holder.name.value if holder else "?"), "Field"
    r.add(
        f"Argument '{arg.name.value}' on {kind} '{where}' has an invalid value "
        f"({print_ast(arg.value)}). Expected type '{r.arg_types.get(id(arg), '?')}'.",
        [holder or arg],
        arg,
        {"code": "argumentLiteralsIncompatible", "typeName": kind, "argumentName": arg.name.value},
    )
    return True


#: Each rule claims the graphql-core messages of one concern; the last one is the catch-all for
#: errors sitting on an argument, so it must stay last.
_RULES = (_one_to_one, _field_errors, _missing_arguments, _variable_errors, _invalid_literal)


def validation_errors(schema: GraphQLSchema, doc: DocumentNode) -> list[dict[str, Any]]:
    """graphql-core's validation, reported in Shopify's (graphql-ruby's) shapes and codes."""
    raw = validate(schema, doc)
    if not raw:
        return []
    report = _Report(schema, doc)
    for e in raw:
        nodes = list(e.nodes or [])
        first = nodes[0] if nodes else None
        if not any(rule(report, e.message, nodes, first) for rule in _RULES):
            report.add(e.message, nodes, first, {"code": "validationError"})
    for err in report.out:
        err.pop("_args", None)
    return report.out


def get_named_type_name(type_str: str) -> str:
    return type_str.replace("!", "").replace("[", "").replace("]", "")


def get_named_type_node(vd: VariableDefinitionNode) -> Node:
    t: Any = vd.type
    while hasattr(t, "type"):
        t = t.type
    return t  # type: ignore[no-any-return]


def max_cost_message(requested: int) -> str:
    """Shopify's ``MAX_COST_EXCEEDED`` message."""
    return (
        f"Query cost is {requested}, which exceeds the single query max cost limit "
        f"({cost.MAX_QUERY_COST}).\n\n"
        "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how "
        "the\ncost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used "
        "instead.\nSee https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
    )


def execution_error(e: GraphQLError, request_id: str) -> dict[str, Any]:
    """An error raised while executing, in Shopify's shape (a twin bug as an internal error)."""
    original = e.original_error
    if original is not None and not isinstance(original, GraphQLError):
        # A twin bug: answer like Shopify's internal error, but say what broke.
        return {
            "message": "Internal error. Looks like something went wrong on our end.\n"
            f"Request ID: {request_id} (include this in support requests).",
            "locations": node_locations(e.nodes or []),
            "path": e.path,
            "extensions": {
                "code": "INTERNAL_SERVER_ERROR",
                "requestId": request_id,
                "twinError": f"{type(original).__name__}: {original}",
            },
        }
    out: dict[str, Any] = {"message": e.message}
    if e.nodes:
        out["locations"] = node_locations(e.nodes)
    if e.path is not None:
        out["path"] = e.path
    if e.extensions:
        out["extensions"] = dict(e.extensions)
    return out
