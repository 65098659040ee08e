"""Every endpoint the served app has, read from the app itself (`app.routes` flattened, plus each
operation's OpenAPI parameters and JSON body), so a new route is fuzzed without being listed."""

from __future__ import annotations

from typing import Any

from eval.fuzz.cases import RouteInfo, access_of


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0], components)
    return schema


def _field(schema: dict[str, Any], components: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """(json type, enum values) of a property; anyOf [X, null] counts as X."""
    schema = _resolve(schema, components)
    for option in schema.get("anyOf", ()):
        option = _resolve(option, components)
        if option.get("type") != "null":
            return _field(option, components)
    return schema.get("type", ""), tuple(schema.get("enum", ()))


def served_routes(app: Any) -> list[RouteInfo]:
    """(method, path) of every HTTP route and WebSocket of `app`, with what OpenAPI says of it.
    HEAD is left out where GET is served (Starlette answers it from the GET route)."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount, WebSocketRoute

    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    routes: list[RouteInfo] = []
    for rc in iter_route_contexts(app.routes):
        original = rc.original_route
        if isinstance(original, Mount):
            continue  # static files only (see tests/test_access_policy.py)
        if isinstance(original, WebSocketRoute):
            routes.append(RouteInfo("WS", rc.path, access_of("WS", rc.path)))
            continue
        methods = set(rc.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods):
            op = spec.get("paths", {}).get(rc.path, {}).get(method.lower(), {})
            query = tuple(p["name"] for p in op.get("parameters", ()) if p.get("in") == "query")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            fields: tuple[tuple[str, str, tuple[Any, ...]], ...] = ()
            if body is not None:
                props = _resolve(body, components).get("properties", {})
                fields = tuple((name, *_field(s, components)) for name, s in props.items())
            routes.append(RouteInfo(method, rc.path, access_of(method, rc.path), query, fields,
                                    has_body=body is not None or method in ("POST", "PUT", "PATCH")))
    return routes


def routes_of_served_app() -> list[RouteInfo]:
    """The routes of `connectors.app.build_app` (the app `python -m bot serve` runs), built but
    not started: reading routes loads no model and touches no database."""
    from bot.config import Settings
    from connectors.app import build_app

    return served_routes(build_app(Settings(_env_file=None)))
