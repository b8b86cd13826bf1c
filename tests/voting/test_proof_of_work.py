"""Proof-of-work challenges: issued signed and bound to one visitor, solved as a browser would, and every way a
solution can fail to hold; the record of who paid, on both databases."""

from __future__ import annotations

import base64
import json
import time

import altcha
import pytest

from arena.config import ConfigError, Settings
from arena.db import transaction
from arena.voting import proof_of_work as pow_

KEYS = pow_.Secrets.from_secret("test-secret")
DIFFICULTY = 200


def solved(challenge: dict) -> str:
    parsed = altcha.Challenge.from_dict(challenge)
    return altcha.Payload(parsed, altcha.solve_challenge(parsed, timeout=30)).to_base64()


def test_a_solution_for_this_visitor_holds():
    challenge = pow_.new_challenge(KEYS, "visitor-a", DIFFICULTY)
    params = challenge["parameters"]
    assert params["algorithm"] == pow_.ALGORITHM and params["cost"] == pow_.ITERATIONS
    assert "visitor-a" not in json.dumps(challenge)  # only a hash of the key goes to the browser
    payload = solved(challenge)
    counter = json.loads(base64.b64decode(payload))["solution"]["counter"]
    assert 0 <= counter < DIFFICULTY
    pow_.check_solution(KEYS, "visitor-a", payload)


def test_the_answer_is_drawn_over_the_whole_range():
    """No part of [0, D) is known to be empty: a script that starts counting at D/2 (where every answer lay when
    the range was [D/2, D)) misses about half the answers, and the mean is D/2."""
    import altcha

    difficulty, draws = 64, 400
    counters = [altcha.Challenge.from_dict(pow_.new_challenge(KEYS, "v", difficulty)) for _ in range(draws)]
    # The counter itself is secret; the challenge carries the key it derives. Solve each from 0 to find it.
    found = [altcha.solve_challenge(c, timeout=30).counter for c in counters]
    below_half = sum(1 for n in found if n < difficulty // 2)
    assert all(0 <= n < difficulty for n in found)
    assert 0.4 * draws < below_half < 0.6 * draws
    assert abs(sum(found) / draws - (difficulty - 1) / 2) < 4


def test_one_solution_does_not_pay_for_another_identity():
    payload = solved(pow_.new_challenge(KEYS, "visitor-a", DIFFICULTY))
    with pytest.raises(pow_.ProofRejected, match="another visitor"):
        pow_.check_solution(KEYS, "visitor-b", payload)


def test_an_expired_challenge_is_refused():
    long_ago = time.time() - 2 * pow_.CHALLENGE_TTL_SECONDS
    payload = solved(pow_.new_challenge(KEYS, "visitor-a", DIFFICULTY, now=long_ago))
    with pytest.raises(pow_.ProofRejected, match="expired"):
        pow_.check_solution(KEYS, "visitor-a", payload)


def test_another_servers_challenge_is_refused():
    payload = solved(pow_.new_challenge(pow_.Secrets.from_secret("another-secret"), "visitor-a", DIFFICULTY))
    with pytest.raises(pow_.ProofRejected, match="not valid"):
        pow_.check_solution(KEYS, "visitor-a", payload)


@pytest.mark.parametrize("edit", [{"keyPrefix": "00"}, {"cost": 1, "keyPrefix": "0"}, {"data": {"visitor": "forged"}}])
def test_an_easier_or_rebound_challenge_breaks_its_signature(edit):
    # A script that lowers the work, or moves the challenge to another identity, edits what the server signed.
    challenge = pow_.new_challenge(KEYS, "visitor-a", DIFFICULTY)
    challenge["parameters"].update(edit)
    challenge["parameters"].pop("keySignature")
    payload = solved(challenge)
    with pytest.raises(pow_.ProofRejected, match="not valid"):
        pow_.check_solution(KEYS, "visitor-a", payload)


def test_a_wrong_answer_is_refused():
    challenge = pow_.new_challenge(KEYS, "visitor-a", DIFFICULTY)
    payload = json.loads(base64.b64decode(solved(challenge)))
    payload["solution"]["derivedKey"] = "00" * 32
    with pytest.raises(pow_.ProofRejected, match="not valid"):
        pow_.check_solution(KEYS, "visitor-a", base64.b64encode(json.dumps(payload).encode()).decode())


@pytest.mark.parametrize("payload", ["", "not base64!", base64.b64encode(b"{}").decode(), "A" * 5000])
def test_garbage_is_refused_not_a_crash(payload):
    with pytest.raises(pow_.ProofRejected):
        pow_.check_solution(KEYS, "visitor-a", payload)


def test_the_record_of_who_paid_is_idempotent(session_factory):
    with transaction(session_factory) as s:
        assert not pow_.has_proof(s, "k" * 32)
        pow_.record(s, "k" * 32)
        pow_.record(s, "k" * 32)
    with session_factory() as s:
        assert pow_.has_proof(s, "k" * 32) and not pow_.has_proof(s, "j" * 32)


def test_the_difficulty_setting_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("ARENA_POW_DIFFICULTY", "12345")
    monkeypatch.setenv("ARENA_COUNT_UNVERIFIED", "true")
    settings = Settings.from_env()
    assert settings.pow_difficulty == 12345 and settings.count_unverified
    assert not Settings().count_unverified  # unverified votes do not count unless the operator says so
    for bad in (1, 10_000_001):
        with pytest.raises(ConfigError, match="ARENA_POW_DIFFICULTY"):
            Settings(secret_key="x", pow_difficulty=bad).validated()
