"""The request's variables checked before anything runs, as Shopify checks them: values that do
not coerce to their declared types (``INVALID_VARIABLE`` with graphql-ruby's ``problems``) and
input arrays over 250 items (``MAX_INPUT_SIZE_EXCEEDED``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
    is_input_type,
    print_ast,
    type_from_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.utilities import validate_input_value

from .cost import selected_fields
from .graphql_errors import node_locations

MAX_INPUT_ARRAY = 250

#: Enum values of the twin's (2026-07) schema that older API versions do not have, with the first
#: version that has them: a request on an older version is refused them and is not offered them
#: (recorded: webhook-subscription-topic-enum-validation, whose 2026-04 refusal lists 222 topics,
#: these three fewer than 2026-07's 225).
ENUM_VALUES_SINCE: dict[str, dict[str, str]] = {
    "WebhookSubscriptionTopic": {
        "CUSTOMERS_WHATS_APP_MARKETING_CONSENT_UPDATE": "2026-07",
        "MACHINE_TRANSLATION_BATCH_COMPLETED": "2026-07",
        "INVENTORY_TRANSFERS_UPDATED": "2026-07",
    },
}


def enum_values(enum: Any, api_version: str) -> list[str]:
    """An enum's values as the request's API version has them."""
    since = ENUM_VALUES_SINCE.get(enum.name, {})
    return [
        v for v in enum.values if api_version == "unstable" or since.get(v, "") <= api_version
    ]


def _too_new(value: Any, type_: Any, path: list[Any], api_version: str) -> list[dict[str, Any]]:
    """Enum values in a (valid) variable value that the request's API version does not have."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return []
    if isinstance(type_, GraphQLList):
        if not isinstance(value, list):  # one value given for a list
            return _too_new(value, type_.of_type, path, api_version)
        return [
            p for i, v in enumerate(value) for p in _too_new(v, type_.of_type, [*path, i],
                                                          api_version)
        ]
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        return [
            p
            for k, v in value.items()
            if k in type_.fields
            for p in _too_new(v, type_.fields[k].type, [*path, k], api_version)
        ]
    if not isinstance(type_, GraphQLEnumType):
        return []
    values = enum_values(type_, api_version)
    if value in values:
        return []
    return [{"path": path, "explanation": f"Expected {json.dumps(value)} to be one of: "
             + ", ".join(values)}]


def _problem(
    message: str, value: Any, type_: Any, path: list[Any], api_version: str = "2026-07"
) -> dict[str, Any]:
    """One ``problems`` entry (graphql-ruby's wording) from a graphql-core coercion error."""
    m = re.match(
        r"Expected value of type '([^']+)' not to include unknown field '([^']+)'", message
    )
    if m:
        return {"path": [*path, m.group(2)], "explanation": f"Field is not defined on {m.group(1)}"}
    m = re.match(r"Expected value of type '[^']+' to include required field '([^']+)'", message)
    if m:
        return {"path": [*path, m.group(1)], "explanation": "Expected value to not be null"}
    if "not to be None" in message:
        return {"path": path, "explanation": "Expected value to not be null"}
    named = get_named_type(type_)
    m = re.match(r"Value '[^']*' does not exist in '([^']+)' enum", message)
    if m and hasattr(named, "values"):
        # the variable's own enum lists its values; one nested in an input object lists none
        values = enum_values(named, api_version) if named.name == m.group(1) else []
        return {
            "path": path,
            "explanation": f"Expected {json.dumps(_value_at(value, path))} to be one of: "
            + ", ".join(values),
        }
    m = re.match(r"(Int|Float|String|Boolean|ID) cannot represent", message)
    if m:
        return {
            "path": path,
            "explanation": (
                f"Could not coerce value {json.dumps(_value_at(value, path))} to {m.group(1)}"
            ),
        }
    if "to be an object" in message:
        return {
            "path": path,
            "explanation": (
                f"Expected {json.dumps(_value_at(value, path))} to be a key-value object."
            ),
        }
    return {"path": path, "explanation": message.rstrip(".")}


def _value_at(value: Any, path: list[Any]) -> Any:
    for p in path:
        try:
            value = value[p]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def coerce_variables(
    schema: GraphQLSchema,
    op: OperationDefinitionNode,
    raw: Mapping[str, Any],
    api_version: str = "2026-07",
) -> list[dict[str, Any]]:
    """Check the request's variables, as the request's API version has its enums; errors in
    Shopify's ``INVALID_VARIABLE`` shape."""
    errors: list[dict[str, Any]] = []
    for vd in op.variable_definitions or ():
        name = vd.variable.name.value
        var_type = type_from_ast(schema, vd.type)
        if var_type is None or not is_input_type(var_type):
            continue
        type_str = print_ast(vd.type)
        problems: list[dict[str, Any]] = []
        if name not in raw:
            if vd.default_value is None and type_str.endswith("!"):
                problems.append({"path": [], "explanation": "Expected value to not be null"})
            value = None
        else:
            value = raw[name]

            def on_error(
                error: GraphQLError,
                path: list[Any],
                _t: Any = var_type,
                _v: Any = value,
                _out: list[dict[str, Any]] = problems,
            ) -> None:
                _out.append(_problem(error.message, _v, _t, list(path), api_version))

            validate_input_value(value, var_type, on_error, True)
            if not problems:
                problems = _too_new(value, var_type, [], api_version)
        if not problems:
            continue
        detail = [p for p in problems if p["path"]]
        message = f"Variable ${name} of type {type_str} was provided invalid value"
        if detail:
            message += " for " + ", ".join(
                f"{'.'.join(str(x) for x in p['path'])} ({p['explanation']})" for p in detail
            )
        errors.append(
            {
                "message": message,
                "locations": node_locations([vd]),
                "extensions": {"code": "INVALID_VARIABLE", "value": value, "problems": problems},
            }
        )
    return errors


def oversized_inputs(
    schema: GraphQLSchema,
    doc: DocumentNode,
    op: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Input arrays over 250 items (Shopify refuses them before running the query)."""
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    errors: list[dict[str, Any]] = []
    root = schema.get_root_type(op.operation)
    coerced = get_variable_values(schema, op.variable_definitions or (), dict(variables))
    if isinstance(coerced, list):  # already reported by coerce_variables
        return []

    def sizes(value: Any, path: list[Any]) -> Iterable[tuple[int, list[Any]]]:
        if isinstance(value, list):
            if len(value) > MAX_INPUT_ARRAY:
                yield len(value), path
            for i, v in enumerate(value):
                yield from sizes(v, [*path, i])
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from sizes(v, [*path, k])

    def walk(parent: Any, sel: Any, path: list[str]) -> None:
        if parent is None:
            return
        for s in selected_fields(sel, fragments):
            fdef = getattr(parent, "fields", {}).get(s.name.value)
            if fdef is None:
                continue
            key = s.alias.value if s.alias else s.name.value
            if s.arguments and any(
                isinstance(a.value, (ListValueNode, ObjectValueNode, VariableNode))
                for a in s.arguments
            ):
                try:
                    args = get_argument_values(fdef, s, coerced)
                except GraphQLError:
                    args = {}
                for n, p in sizes(args, [*path, key]):
                    errors.append(
                        {
                            "message": f"The input array size of {n} is greater than "
                            f"the maximum allowed of {MAX_INPUT_ARRAY}.",
                            "locations": node_locations([s]),
                            "path": p,
                            "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
                        }
                    )
            walk(get_named_type(fdef.type), s.selection_set, [*path, key])

    walk(root, op.selection_set, [])
    return errors
