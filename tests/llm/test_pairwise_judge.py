"""`arena judge pairwise` against the local OpenAI-compatible server: both orders asked and stored, resumable,
own-family pairs never judged, unusable answers as errors with nothing half-stored; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.llm.client import LLMError
from arena.llm.pairwise_judging import PairwiseOptions, judge_pairs, parse_verdict
from arena.llm.retry import RetryPolicy
from arena.models import Battle, JudgeVerdict, JudgeVerdictError, Model, Prompt, Reply, Vote
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, served

litellm = pytest.importorskip("litellm")

FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)
SHOWN = re.compile(r"<reply_a>\n(.*)\n</reply_a>.*<reply_b>\n(.*)\n</reply_b>", re.DOTALL)


def biased_verdict(first: str, second: str) -> str:
    """Prefers a reply marked [good] over one marked [bad]; between two alike, says A (a position bias) when both
    are good and tie when both are bad."""
    good = ("[good]" in first, "[good]" in second)
    return "A" if good == (True, False) else "B" if good == (False, True) else "A" if good[0] else "tie"


def biased_judge(messages) -> str:
    verdict = biased_verdict(*SHOWN.search(messages[-1]["content"]).groups())
    return f'```json\n{{"reason": "one is warmer", "verdict": "{verdict}"}}\n```'


def seed_pairs(factory, battles: list[tuple[str, str, str, str, str | None]], providers: dict[str, str | None]):
    """One message per battle: (model A, quality A, model B, quality B, outcome or None for an open battle)."""
    with transaction(factory) as session:
        models = {slug: Model(slug=slug, display_name=slug.title(), provider=p) for slug, p in providers.items()}
        session.add_all(models.values())
        session.flush()
        for i, (a, qa, b, qb, outcome) in enumerate(battles):
            prompt = Prompt(text=f"My sister stopped talking to me ({i}).", source="curated", content_hash=f"pw-{i}")
            session.add(prompt)
            session.flush()
            ra = Reply(prompt_id=prompt.id, model_id=models[a].id, text=f"Reply {i} [{qa}]")
            rb = Reply(prompt_id=prompt.id, model_id=models[b].id, text=f"Other reply {i} [{qb}]")
            session.add_all([ra, rb])
            session.flush()
            battle = Battle(public_id=f"pw{i}", prompt_id=prompt.id, reply_a_id=ra.id, reply_b_id=rb.id,
                            model_a_id=models[a].id, model_b_id=models[b].id,
                            status="voted" if outcome else "open", judge_key=f"voter{i % 5}")  # fmt: skip
            session.add(battle)
            session.flush()
            if outcome:
                session.add(Vote(battle_id=battle.id, model_a_id=models[a].id, model_b_id=models[b].id,
                                 outcome=outcome))  # fmt: skip


def verdicts(factory, judge="pj") -> list[tuple[int, int, str, str]]:
    with factory() as session:
        rows = session.scalars(select(JudgeVerdict).where(JudgeVerdict.judge == judge).order_by(JudgeVerdict.id))
        return [(v.reply_first_id, v.reply_second_id, v.shown_order, v.verdict) for v in rows]


PROVIDERS = {"warm-bot": "anthropic", "brisk-bot": "meta", "house-gpt": "openai"}


def add_judge(factory, server, name="pair-judge"):
    # Registered as openai/<name>: its family is openai.
    add_model(factory, **served(server, "pj", name), active=False)


def test_parse_verdict():
    assert parse_verdict('{"reason": "x", "verdict": "A"}') == "A"
    assert parse_verdict('Sure.\n```json\n{"verdict": " b "}\n```') == "B"
    assert parse_verdict('{"verdict": "TIE"}') == "tie"
    for answer in ('{"verdict": "C"}', '{"reason": "A is better"}', "A", '{"verdict": 1}'):
        with pytest.raises(LLMError) as caught:
            parse_verdict(answer)
        assert caught.value.kind == "bad_response"


def test_both_orders_are_asked_and_stored_once_never_own_family(session_factory, llm_server):
    seed_pairs(session_factory, [
        ("warm-bot", "good", "brisk-bot", "bad", "model_a"),
        ("brisk-bot", "good", "warm-bot", "good", "model_b"),
        ("warm-bot", "bad", "house-gpt", "good", "model_b"),  # the judge's own family: never judged
        ("brisk-bot", "bad", "warm-bot", "bad", None),  # not voted: only with battles=all
    ], PROVIDERS)  # fmt: skip
    add_judge(session_factory, llm_server)
    llm_server.replies["pair-judge"] = biased_judge

    summary = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST, concurrency=3))

    assert summary.scored == 2 and summary.verdicts == 4 and not summary.failed
    stored = verdicts(session_factory)
    with session_factory() as session:
        text = dict(session.execute(select(Reply.id, Reply.text)).tuples().all())
        names = [n for m in session.scalars(select(Model)) for n in (m.slug, m.display_name) if m.slug != "pj"]
    assert len(stored) == 4 and {v for *_, v in stored} <= {"A", "B", "tie"}
    pairs = {}
    for first, second, order, verdict in stored:
        assert order == ("ab" if first < second else "ba")
        pairs.setdefault(frozenset((first, second)), {})[order] = (first, verdict)
        # What was stored is what the judge said of the replies as shown.
        assert verdict == biased_verdict(text[first], text[second])
    assert all(set(orders) == {"ab", "ba"} for orders in pairs.values()) and len(pairs) == 2
    with session_factory() as session:
        own = set(session.scalars(select(Reply.id).join(Model).where(Model.slug == "house-gpt")))
    assert own and not any(own & pair for pair in pairs)
    # Four calls, each with the message and both replies, no model named.
    assert len(llm_server.requests) == 4
    for request in llm_server.requests:
        sent = json.dumps(request.messages).lower()
        assert all(name.lower() not in sent for name in names)

    # Resumable: nothing left to ask.
    again = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST))
    assert again.scored == 0 and len(llm_server.requests) == 4 and len(verdicts(session_factory)) == 4
    # Every battle: the open battle's pair too, and only it.
    more = judge_pairs(session_factory, PairwiseOptions(judge="pj", battles="all", retry=FAST))
    assert more.scored == 1 and len(llm_server.requests) == 6 and len(verdicts(session_factory)) == 6


def test_an_unusable_answer_is_an_error_and_nothing_is_half_stored(session_factory, llm_server):
    seed_pairs(session_factory, [("warm-bot", "good", "brisk-bot", "bad", "model_a")], PROVIDERS)
    add_judge(session_factory, llm_server)

    def second_order_breaks(messages) -> str:
        first, _ = SHOWN.search(messages[-1]["content"]).groups()
        return biased_judge(messages) if first.startswith("Reply") else '{"verdict": "the first one"}'

    llm_server.replies["pair-judge"] = second_order_breaks
    twice = RetryPolicy(attempts=2, base_delay=0.01)
    summary = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=twice))
    assert dict(summary.failed) == {"bad_response": 1} and summary.scored == 0
    assert verdicts(session_factory) == []  # the good order is not kept without the other
    with session_factory() as session:
        (error,) = session.scalars(select(JudgeVerdictError)).all()
    assert error.judge == "pj" and error.error_type == "bad_response" and error.attempts == 2
    assert "not A, B or tie" in error.message

    llm_server.replies["pair-judge"] = biased_judge
    later = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST))
    assert later.scored == 1 and len(verdicts(session_factory)) == 2
    with session_factory() as session:
        assert session.scalars(select(JudgeVerdictError)).all() == []


def test_cli_judge_pairwise(database_url, session_factory, llm_server):
    seed_pairs(session_factory, [("warm-bot", "good", "brisk-bot", "bad", "model_a"),
                                 ("brisk-bot", "good", "warm-bot", "bad", "tie"),
                                 ("house-gpt", "good", "warm-bot", "bad", "model_a")], PROVIDERS)  # fmt: skip
    add_judge(session_factory, llm_server)
    llm_server.replies["pair-judge"] = biased_judge

    first = run_arena("judge", "pairwise", "--judge-model", "pj", "--limit", "1", "--json",
                      "--database-url", database_url)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "judge": "pj", "planned": 1, "own_family_skipped": 1, "scored": 1, "verdicts": 2, "failed": 0,
        "errors": {}, "cost_usd": 0.0, "unknown_cost_replies": 1,
    }  # fmt: skip
    # The rest in-process (each `arena` run that calls a model imports litellm: seconds).
    assert judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST)).scored == 1
    again = run_arena("judge", "pairwise", "--judge-model", "pj", "--database-url", database_url)
    assert again.returncode == 0, again.stderr
    assert "nothing to judge" in again.stdout and "1 pairs of its own family left out" in again.stdout
    assert len(verdicts(session_factory)) == 4 and len(llm_server.requests) == 4


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "--judge-model SLUG is required"),
        (("--judge-model", "nobody"), "no judge model nobody"),
        (("--judge-model", "pj", "--battles", "some"), "Invalid value for '--battles'"),
    ],
)
def test_cli_judge_pairwise_bad_input_exits_2(database_url, args, reason):
    result = run_arena("judge", "pairwise", *args, "--database-url", database_url)
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert reason in result.stderr and (len(lines) == 1 or "Usage" in result.stderr), result.stderr


def test_the_suite_reads_the_sites_pairwise_verdicts(database_url, session_factory, llm_server):
    """A judge with a known position bias (A between two good replies) on 24 battles: the suite's flip rate is the
    share of battles with two good replies, its accuracy the share of votes matching the verdict as shown."""
    from arena.jobs.judge_suite import site_suite

    qualities = [("good", "bad"), ("bad", "good"), ("good", "good"), ("bad", "bad")]
    outcomes = ["model_a", "model_b", "tie", "both_bad", "model_a"]
    models = [("warm-bot", "brisk-bot"), ("brisk-bot", "calm-bot"), ("calm-bot", "warm-bot")]
    battles = [(*_pair(models[i % 3], qualities[i % 4]), outcomes[i % 5]) for i in range(24)]
    battles.append(("house-gpt", "good", "warm-bot", "bad", "model_a"))  # own family: never judged, no item
    seed_pairs(session_factory, battles, {**PROVIDERS, "calm-bot": "mistral"})
    add_judge(session_factory, llm_server)
    llm_server.replies["pair-judge"] = biased_judge
    assert judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST, concurrency=4)).scored == 24

    with session_factory() as session:
        suite = site_suite(session, "pj", rounds=200)

    label = {"A": 0, "B": 1, "tie": 2}
    shown = [label[biased_verdict(f"[{qa}]", f"[{qb}]")] for _, qa, _, qb, _ in battles[:24]]
    swapped = [{0: 1, 1: 0, 2: 2}[label[biased_verdict(f"[{qb}]", f"[{qa}]")]] for _, qa, _, qb, _ in battles[:24]]
    human = [{"model_a": 0, "model_b": 1}.get(o, 2) for *_, o in battles[:24]]
    flips = sum(s != w for s, w in zip(shown, swapped, strict=True))
    assert flips == sum((b[1], b[3]) == ("good", "good") for b in battles[:24]) == 6
    assert suite["judged_by"] == "verdicts" and suite["items"] == 24 and suite["models"] == 3
    assert suite["swap_flip_rate"]["value"] == pytest.approx(flips / 24, abs=1e-4) == 0.25
    low, high = suite["swap_flip_rate"]["ci"]
    assert low < 0.25 < high and suite["swap_flip_rate"]["n"] == 24
    agree = sum(s == h for s, h in zip(shown, human, strict=True))
    assert suite["accuracy"]["value"] == pytest.approx(agree / 24, abs=1e-4)
    decisive = [(s, h) for s, h in zip(shown, human, strict=True) if s != 2 and h != 2]
    assert suite["accuracy_without_ties"]["value"] == pytest.approx(
        sum(s == h for s, h in decisive) / len(decisive), abs=1e-4
    )
    # Brier: the judge's probability for A is the mean over both orders.
    p = [({0: 1.0, 1: 0.0, 2: 0.5}[s] + {0: 1.0, 1: 0.0, 2: 0.5}[w]) / 2 for s, w in zip(shown, swapped, strict=True)]
    y = [{0: 1.0, 1: 0.0, 2: 0.5}[h] for h in human]
    assert suite["brier"]["value"] == pytest.approx(sum((a - b) ** 2 for a, b in zip(p, y, strict=True)) / 24,
                                                    abs=1e-4)  # fmt: skip
    # The judge (openai) never saw its own family's pair: nothing to measure, and it says why.
    assert suite["self_family_preference"]["value"] is None
    assert "never asked about its own family" in suite["self_family_preference"]["reason"]

    text = run_arena("judge", "agreement", "--suite", "--judge-model", "pj", "--bootstrap", "50",
                     "--database-url", database_url)  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "pj (its pairwise verdicts) on site: 24 pairs" in text.stdout
    line = next(line for line in text.stdout.splitlines() if "flip rate when the replies are swapped" in line)
    assert "0.250 [" in line and "n=24" in line


def _pair(models, qualities):
    return models[0], qualities[0], models[1], qualities[1]


def test_the_export_carries_the_verdicts_and_an_import_keeps_them(database_url, session_factory, tmp_path):
    from arena.ingest.battle_records import parse_battle

    seed_pairs(session_factory, [("warm-bot", "good", "brisk-bot", "good", "model_a"),
                                 ("brisk-bot", "bad", "warm-bot", "good", "model_b")], PROVIDERS)  # fmt: skip
    with transaction(session_factory) as session:
        (ra, rb) = session.execute(select(Battle.reply_a_id, Battle.reply_b_id).where(Battle.public_id == "pw0")).one()
        session.add_all([
            JudgeVerdict(judge="pj", reply_first_id=ra, reply_second_id=rb, shown_order="ab" if ra < rb else "ba",
                         verdict="A", raw="{}"),
            JudgeVerdict(judge="pj", reply_first_id=rb, reply_second_id=ra, shown_order="ba" if ra < rb else "ab",
                         verdict="A", raw="{}"),
        ])  # fmt: skip

    out = tmp_path / "export"
    result = run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    rows = {r["question_id"]: r for r in map(json.loads, (out / "battles.jsonl").read_text().splitlines())}
    # Said A both ways: the battle's A as shown, its B when swapped (a position bias, in the battle's sides).
    assert rows["pw0"]["judge_verdicts"] == {"pj": {"shown": "model_a", "swapped": "model_b"}}
    assert rows["pw1"]["judge_verdicts"] is None
    assert parse_battle(rows["pw0"]).meta["judge_verdicts"] == rows["pw0"]["judge_verdicts"]
