"""The staff API's OpenAPI 3.1 document, built from the route table the API registers
(``bot/staff/api.py`` ``ROUTES``) and the pydantic models its handlers validate and answer
with: a route or a field cannot be in one and not the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.staff.models import ErrorOut

PREFIX = "/api/v1"
_ERRORS = {401: "no token, or a bad one", 403: "the role may not",
           404: "not found, or not the caller's department's",
           409: "the state does not allow it, or someone acted first",
           422: "a bad body or query; `field` names it"}


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # "path" or "query"
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX, aiohttp's form: /tickets/{ticket_id}
    summary: str
    answer: type[BaseModel]
    body: type[BaseModel] | None = None
    parameters: Sequence[Parameter] = ()
    errors: Sequence[int] = (401,)
    public: bool = False  # served without a token


def document(routes: Sequence[Route], version: str) -> dict[str, Any]:
    answers = sorted({r.answer for r in routes} | {ErrorOut}, key=lambda m: m.__name__)
    bodies = sorted({r.body for r in routes if r.body is not None}, key=lambda m: m.__name__)
    keyed, top = models_json_schema(
        [*((m, "serialization") for m in answers), *((m, "validation") for m in bodies)],
        ref_template="#/components/schemas/{model}")
    ref = {model: schema for (model, _), schema in keyed.items()}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "responses": {"200": {"description": "OK", "content": {
                "application/json": {"schema": ref[route.answer]}}}},
        }
        for status in route.errors:
            operation["responses"][str(status)] = {
                "description": _ERRORS[status],
                "content": {"application/json": {"schema": ref[ErrorOut]}}}
        if route.parameters:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.where == "path",
                 "description": p.description, "schema": p.schema}
                for p in route.parameters]
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref[route.body]}}}
        if route.public:
            operation["security"] = []
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "lianxin staff API", "version": version},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }
