"""HTTP answers shaped as the API server shapes them: Status objects for errors, query parameters."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def status_response(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def not_found(resource: str, name: str, group: str = "") -> web.Response:
    qualified = f"{resource}.{group}" if group else resource
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return status_response(404, "NotFound", f'{qualified} "{name}" not found', details)


def bad_request(message: str) -> web.Response:
    return status_response(400, "BadRequest", message)


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"invalid value for {name}: {raw!r}",
                    "reason": "BadRequest",
                    "code": 400,
                }
            ),
            content_type="application/json",
        ) from None


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def strip_type_meta(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
