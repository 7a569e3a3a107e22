"""JSON errors: ``{"detail": message, "code": machine-readable, ...}`` with the right status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ocppd.csms.outbound import (
    InvalidAnswer,
    NotExpressible,
    OutboundError,
    StationCallError,
    StationOffline,
    StationTimeout,
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str = "error", details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="What went wrong, for a human; names the field for bad input")
    code: str = Field(description="Machine-readable, e.g. invalid_input, unknown_station, station_offline")
    status: int = Field(description="The HTTP status again")
    details: Any = Field(None, description="More, where there is: the fields of bad input, a CALLERROR's code")


@contextmanager
def outbound_errors(
    what: str, *, invalid: tuple[type[Exception], ...] = (), missing: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Map what can go wrong while the CSMS asks a station something onto the API's answers (the table
    in docs/api.md): the one place that says which status and code each failure gets. ``invalid`` are
    the domain's own refusals of the request (400), ``missing`` its "no such thing" (404)."""
    try:
        yield
    except NotExpressible as exc:
        raise ApiError(400, f"{what}: {exc}", "invalid_input") from None
    except StationOffline as exc:
        raise ApiError(409, str(exc), "station_offline") from None
    except StationTimeout as exc:
        raise ApiError(504, str(exc), "station_timeout") from None
    except StationCallError as exc:
        details = {"error_code": exc.code, "error_details": exc.details}
        raise ApiError(502, f"{what}: {exc}", "call_error", details) from None
    except InvalidAnswer as exc:
        raise ApiError(502, f"{what}: {exc}", "invalid_answer") from None
    except OutboundError as exc:
        raise ApiError(502, f"{what}: {exc}", "call_error") from None
    except invalid as exc:  # the domain's message names the field
        raise ApiError(400, str(exc), "invalid_input") from None
    except missing as exc:
        raise ApiError(404, str(exc), "not_found") from None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


_MEANING = {
    400: "Invalid input (the reason names the field)",
    401: "No, unknown or revoked credentials",
    403: "Read-only caller on an admin endpoint, or a session request without its CSRF token",
    404: "Unknown station, token or transaction",
    409: "Station not connected, or it already exists",
    413: "The uploaded file is larger than the configured limit (nothing is kept)",
    415: "The request body is not of a type this endpoint takes",
    502: "The station answered with a CALLERROR or an invalid payload",
    504: "The station did not answer in time",
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the API does: FastAPI documents request validation as
    422 with its own error model, but the API answers 400 with ``ErrorBody`` (see ``install``); and
    an operation on ``/{something}`` answers 404 when that something does not exist."""
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            wanted = [400, 401, 403] if path.startswith("/api/v1/") else []  # every API router, also new ones
            if "{" in path:
                wanted.append(404)
            for status in wanted:
                responses.setdefault(str(status), {"description": _MEANING[status], "content": body})
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _body(status: int, message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": message, "code": code, "status": status}
    if details:
        body["details"] = details
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.status, exc.message, exc.code, exc.details), exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(_body(exc.status_code, detail, code), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        # 400, not FastAPI's default 422: clients of OCPP back-ends expect "bad request" for bad input.
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append({"field": where, "message": err.get("msg", "invalid")})
        message = "invalid input: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(_body(400, message, "invalid_input", problems), 400)
