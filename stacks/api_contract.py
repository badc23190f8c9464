"""The request schema lives once, in the OpenAPI document; the API Gateway model is derived from it."""

from functools import cache
from typing import Any

from aws_cdk import aws_apigateway as apigw

from mysfits.project_files import load_openapi

REQUEST_SCHEMA_NAME = "RecommendationRequest"
ERROR_SCHEMA_NAME = "Error"

# JSON Schema keyword → JsonSchema keyword argument. API Gateway models are draft 4; anything else is refused
# so a keyword added to the OpenAPI document cannot silently go unenforced at the edge.
_KEYWORDS = {
    "type": "type",
    "title": "title",
    "description": "description",
    "required": "required",
    "properties": "properties",
    "additionalProperties": "additional_properties",
    "items": "items",
    "minItems": "min_items",
    "maxItems": "max_items",
    "minimum": "minimum",
    "maximum": "maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "enum": "enum",
}
_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "array": apigw.JsonSchemaType.ARRAY,
    "integer": apigw.JsonSchemaType.INTEGER,
    "number": apigw.JsonSchemaType.NUMBER,
    "string": apigw.JsonSchemaType.STRING,
    "boolean": apigw.JsonSchemaType.BOOLEAN,
    "null": apigw.JsonSchemaType.NULL,
}


@cache
def openapi_document() -> dict[str, Any]:
    return load_openapi()


def component_schema(name: str) -> dict[str, Any]:
    return openapi_document()["components"]["schemas"][name]


def to_api_gateway_schema(schema: dict[str, Any], *, root: bool = True) -> apigw.JsonSchema:
    """Translate a plain JSON schema object (no $ref) into the API Gateway model schema, draft 4."""
    unknown = set(schema) - set(_KEYWORDS)
    if unknown:
        raise ValueError(f"OpenAPI schema keyword(s) {sorted(unknown)} have no API Gateway model equivalent")
    kwargs: dict[str, Any] = {}
    for keyword, value in schema.items():
        name = _KEYWORDS[keyword]
        if keyword == "type":
            value = _TYPES[value]
        elif keyword == "properties":
            value = {key: to_api_gateway_schema(sub, root=False) for key, sub in value.items()}
        elif keyword == "items" or (keyword == "additionalProperties" and isinstance(value, dict)):
            value = to_api_gateway_schema(value, root=False)
        kwargs[name] = value
    if root:
        kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
    return apigw.JsonSchema(**kwargs)
