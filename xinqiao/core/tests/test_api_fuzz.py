"""Schemathesis over the whole OpenAPI schema: generated requests never produce a 5xx.

Operations are enumerated from the live schema and each is driven by Hypothesis with the
strategy schemathesis derives from it; requests go through the real WSGI application.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from xinqiao.core.models import ApiKey
from xinqiao.core.services import api_key_create

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def operations():
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Requests go straight to the WSGI handler (not Django's test client), whose request signals would close
    the test transaction's connection on PostgreSQL; detach them as Django's own test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(world) -> str:
    _key, plaintext = api_key_create(principal=world.principal("admin"), name="fuzz", scopes=list(ApiKey.Scope.values))
    return plaintext


def test_schema_lists_every_operation(db):
    names = sorted(f"{op.method.upper()} {op.path}" for op in operations())
    assert names == [
        "GET /api/listening/mentions",
        "GET /api/patients",
        "GET /api/patients/{patient_id}",
        "POST /api/listening/mentions",
        "POST /api/patients",
        "POST /api/patients/search",
        "POST /api/patients/{patient_id}/reveal",
    ]


def test_no_server_errors_with_an_api_key(world, api_key):
    statuses: set[int] = set()
    for operation in operations():

        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz(case):
            response = case.call_and_validate(headers={"X-API-Key": api_key}, checks=[not_a_server_error])
            statuses.add(response.status_code)

        fuzz()
    assert all(status < 500 for status in statuses)
    assert 200 in statuses


def test_no_server_errors_without_credentials(world):
    for operation in operations():

        @settings(FUZZ, max_examples=10)
        @given(case=operation.as_strategy())
        def fuzz(case):
            response = case.call_and_validate(checks=[not_a_server_error])
            assert response.status_code in (401, 404, 405, 413, 422)

        fuzz()
