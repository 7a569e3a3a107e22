"""The OpenAPI document says what the API does (issue 8, item 13): 400 with the real error model where
FastAPI would document 422, typed response schemas, and real answers that validate against them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.api.conftest import eventually, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess, run_csms
from tests.seed import seed_url

UNTYPED_BY_NATURE = {
    # The station's own OCPP payload: any JSON object is the honest schema.
    ("post", "/api/v1/stations/{station_id}/call/{action}"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    tmp = tmp_path_factory.mktemp("openapi")
    (tmp / "ocppd-data").mkdir()
    asyncio.run(seed_url(f"sqlite:///{tmp / 'ocppd-data' / 'ocppd.db'}", stations=5, transactions=20, messages=30))
    with run_csms(tmp) as s:
        yield s


@pytest.fixture
async def doc(api: httpx.AsyncClient) -> dict[str, Any]:
    return ok(await api.get("/api/v1/openapi.json"))


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def conforms(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """``body`` validates against what the document says ``method path`` answers with ``status``."""
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**schema, "components": doc["components"]})
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], f"{method.upper()} {path} {status}: {errors[:3]}"


async def test_errors_documented_as_answered(doc: dict[str, Any], api: httpx.AsyncClient) -> None:
    error_model = doc["components"]["schemas"]["ErrorBody"]
    assert set(error_model["required"]) == {"detail", "code", "status"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for method, path, op in operations(doc):
        responses = op["responses"]
        assert "422" not in responses, f"{method} {path}"
        if not path.startswith("/api/v1/"):
            continue
        for status in ("400", "401", "403"):
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorBody", f"{method} {path} {status}"
        if "{" in path:
            assert "404" in responses, f"{method} {path}"
    # What the document promises is what a bad request gets.
    bad = await api.get("/api/v1/transactions", params={"limit": "many"})
    assert bad.status_code == 400
    conforms(doc, "get", "/api/v1/transactions", 400, bad.json())
    assert "limit" in bad.json()["detail"]
    missing = await api.get("/api/v1/stations/NOPE")
    conforms(doc, "get", "/api/v1/stations/{station_id}", 404, missing.json())
    command = doc["paths"]["/api/v1/stations/{station_id}/commands/reset"]["post"]["responses"]
    assert {"409", "502", "504"} <= set(command)


def typed_routers() -> set[tuple[str, str]]:
    """(method, path) of the routers held to named response models: the operator API of
    api/routes.py and smart charging's. A block's new router joins by being listed here."""
    from fastapi.routing import APIRoute

    from ocppd.api import alerts, billing, firmware, logs, routes, smart

    return {
        (method.lower(), route.path)
        for router in (routes.router, smart.router, alerts.router, billing.router, logs.router, firmware.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


async def test_responses_are_typed(doc: dict[str, Any]) -> None:
    held = typed_routers()
    assert len(held) > 40
    for method, path, op in operations(doc):
        if (method, path) not in held:
            continue
        for status, response in op["responses"].items():
            if not status.startswith("2") or "application/json" not in response.get("content", {}):
                continue
            if (method, path) in UNTYPED_BY_NATURE:
                continue
            schema = response["content"]["application/json"]["schema"]
            named = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert named, f"{method.upper()} {path} {status} answers an untyped {schema}: name a model (api/models.py)"


async def test_answers_validate_against_the_document(
    server: CsmsProcess, api: httpx.AsyncClient, doc: dict[str, Any]
) -> None:
    async with connected(server.ws_url, "OA-LIVE", "2.0.1"):

        async def booted() -> dict[str, Any] | None:
            row = ok(await api.get("/api/v1/stations/OA-LIVE"))
            return row if row["connectors"] else None

        await eventually(booted, "the live station's connectors")
        running = ok(await api.get("/api/v1/transactions", params={"active": "true", "limit": 1}))[0]
        checks: list[tuple[str, dict[str, Any]]] = [
            ("/api/v1/me", {}),
            ("/api/v1/overview", {}),
            ("/api/v1/stations", {}),
            ("/api/v1/stations/{station_id}", {"station_id": "OA-LIVE"}),
            ("/api/v1/stations/{station_id}", {"station_id": running["station_id"]}),
            ("/api/v1/stations/{station_id}/power", {"station_id": running["station_id"]}),
            ("/api/v1/stations/{station_id}/messages", {"station_id": "OA-LIVE"}),
            ("/api/v1/messages", {}),
            ("/api/v1/tokens", {}),
            ("/api/v1/tokens/{id_token}", {"id_token": "TAG000001"}),
            ("/api/v1/transactions", {}),
            ("/api/v1/transactions/{pk}", {"pk": running["id"]}),
            ("/api/v1/transactions/{pk}/power", {"pk": running["id"]}),
        ]
        for template, params in checks:
            body = ok(await api.get(template.format(**params)))
            assert body, template
            conforms(doc, "get", template, 200, body)
