"""The JSON API against its OpenAPI document: schemathesis fuzzes every operation through the WSGI app, on both
backends, with rated models present. No 5xx, and every response conforms to the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth

from arena.db import transaction
from arena.ingest.vote_import import import_votes
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.taxonomy import EMONET_GROUPS
from arena.web.openapi import openapi_document

MODELS = ("warm-listener", "the-fixer", "brief", "<script>alert(1)</script>")
EXAMPLES_PER_OPERATION = 40


def _battles():
    """Every pair plays in both orders with every outcome; half the battles are on a message tagged Sadness."""
    outcomes = ("model_a", "model_b", "tie", "tie (bothbad)")
    k = 0
    for a in MODELS:
        for b in MODELS:
            if a == b:
                continue
            for repeat in range(4):
                for outcome in outcomes[: 2 + repeat % 3]:
                    k += 1
                    record = {"question_id": f"q{k}", "model_a": a, "model_b": b, "winner": outcome}
                    if k % 2:
                        record["conversation_a"] = [{"role": "user", "content": "My cat died this morning."}]
                        record["category_tag"] = {"emotion_v0.1": ["Sadness"]}
                    yield k, record, 0


@pytest.fixture
def rated_app(app, session_factory):
    with transaction(session_factory) as session:
        import_votes(session, _battles())
    recompute(session_factory, session_factory, RecomputeRequest(ci="sandwich", seed=1))
    return app


@pytest.fixture
def api_schema(rated_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", rated_app)


def test_the_document_describes_every_api_route(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert set(openapi_document()["paths"]) == routes
    served = app.test_client().get("/api/openapi.json")
    assert served.status_code == 200 and served.get_json() == openapi_document()


def test_the_document_is_valid_openapi_3_1():
    validate(openapi_document(), cls=OpenAPIV31SpecValidator)


def test_examples_of_the_document_answer_200(rated_app):
    client = rated_app.test_client()
    ok = client.get("/api/leaderboard", query_string={"category": "NEGATIVE, LOW ENERGY"})
    assert ok.status_code == 200 and ok.get_json()["category"] == "Negative, low energy"
    assert {r["model"] for r in ok.get_json()["ratings"]} == set(MODELS)
    for category in ("overall", "Negative, low energy"):
        rows = client.get("/api/leaderboard", query_string={"category": category}).get_json()["ratings"]
        flips = [r["votes_to_flip_above"] for r in rows]
        assert flips[0] is None  # nothing above the top row
        assert all(k is None or (isinstance(k, int) and k >= 1) for k in flips[1:])
        assert any(k is not None for k in flips[1:])  # every neighbour pair, on every board
    untouched = next(g for g in EMONET_GROUPS if g != "Negative, low energy")
    assert client.get("/api/leaderboard", query_string={"category": untouched}).status_code == 404


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error_and_no_drift(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Schemathesis leaves out the document's own location (it was just fetched); the rest is every operation.
    assert {op.path for op in operations} == set(openapi_document()["paths"]) - {"/api/openapi.json"}
    seen: dict[int, int] = {}
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not openapi_document()["paths"][operation.path]["get"].get("parameters"):
            continue  # nothing to get wrong in a request without parameters (/api/reliability)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            # Every default check (no 5xx, status codes, content types, response schemas...); the API has no
            # authentication, so the check that probes ignored auth has nothing to probe.
            response = case.call_and_validate(excluded_checks=[ignored_auth])
            seen[response.status_code] = seen.get(response.status_code, 0) + 1

        conforms()
    assert not any(status >= 500 for status in seen)
    if mode == GenerationMode.POSITIVE:
        # Valid names reach snapshots (200) and categories without one (404), and none is refused.
        assert set(seen) == {200, 404}, seen
    else:
        assert 400 in seen, seen
