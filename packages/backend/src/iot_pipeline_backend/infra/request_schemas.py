"""API Gateway request models generated from the contract's pydantic JSON schemas.

API Gateway validates bodies with a JSON Schema draft-4 subset: no ``$defs``, references
only to other API models, no ``const``/``propertyNames``/numeric ``exclusiveMinimum``. So the
pydantic schemas are rewritten: references inlined, newer keywords translated or dropped.
Dropping a keyword only makes the gateway check looser; the handler validates everything
again with the same models, so the gateway is a cheap first gate, never the only one.
"""

from __future__ import annotations

from typing import Any, Final

from iot_pipeline_common import BatchIngestRequest, ProcessRequest, Reading
from pydantic import BaseModel

DRAFT4: Final = "http://json-schema.org/draft-04/schema#"

# Annotations and draft-6+ keywords API Gateway rejects or ignores.
_DROPPED: Final = frozenset(
    {"$defs", "definitions", "title", "default", "examples", "propertyNames", "$comment"}
)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return _resolve(defs[name], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in ("properties", "patternProperties"):
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _resolve(value, defs)
    return out


def draft4_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's validation schema as a self-contained draft-4 document."""
    schema = model.model_json_schema(mode="validation")
    body: dict[str, Any] = _resolve(schema, schema.get("$defs", {}))
    return {"$schema": DRAFT4, "title": model.__name__, **body}


def ingest_schema() -> dict[str, Any]:
    """``POST /ingest``: one reading or ``{"readings": [...]}``."""
    one = draft4_schema(Reading)
    batch = draft4_schema(BatchIngestRequest)
    for part in (one, batch):
        part.pop("$schema")
        part.pop("title")
    return {"$schema": DRAFT4, "title": "IngestRequest", "oneOf": [one, batch]}


def process_schema() -> dict[str, Any]:
    """``POST /process``."""
    return draft4_schema(ProcessRequest)
