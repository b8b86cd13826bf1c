"""What a lay visitor reads and comes back for (issue 24, items 2 and 3), over HTTP on both databases: new
messages until the bank is exhausted (with the probability each was drawn with), the vote counter, the AI
sentence, the message's emotion at the reveal, a board that explains itself and whole-number counts."""

from __future__ import annotations

import html
import itertools
import re

import pytest
from sqlalchemy import select, update

from arena.db import transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Prompt, PromptEmotion, RatingRun, Reply
from arena.taxonomy import GROUP_OF
from arena.voting.my_ranking import MIN_VOTES
from tests.conftest import parse_battle_page

HX = {"HX-Request": "true"}
AI_SENTENCE = "Both replies are written by AI models; you see which models after your vote."


def vote(client, outcome: str = "tie") -> str:
    """One battle drawn and voted through htmx; returns the reveal fragment."""
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    reveal = client.post(action, data={"outcome": outcome, "csrf_token": csrf}, headers=HX)
    assert reveal.status_code == 200, reveal.get_data(as_text=True)
    return reveal.get_data(as_text=True)


def recompute_now(session_factory, read_factory=None) -> None:
    recompute(session_factory, read_factory or session_factory, RecomputeRequest(rounds=20))


def test_thirty_battles_show_thirty_distinct_messages_each_with_its_draw_probability(
    client, demo_loaded, session_factory
):
    for _ in range(30):
        client.get("/")  # shown, not voted: a skipped message was still seen
    with session_factory() as s:
        battles = s.execute(select(Battle.prompt_id, Battle.sampling_prob).order_by(Battle.id)).all()
        replies = s.execute(select(Reply.model_id, Reply.prompt_id)).all()
    assert len(battles) == 30
    assert len({prompt for prompt, _ in battles}) == 30
    # The probability each was drawn with, worked out here from the replies alone: a uniform pair, a uniform shared
    # prompt, conditioned on the prompts not shown before (sides halve both alike, so they are left out).
    prompts_of: dict[int, set[int]] = {}
    for model_id, prompt_id in replies:
        prompts_of.setdefault(model_id, set()).add(prompt_id)
    shared = {pair: prompts_of[pair[0]] & prompts_of[pair[1]] for pair in itertools.combinations(sorted(prompts_of), 2)}
    shared = {pair: prompts for pair, prompts in shared.items() if prompts}
    mass: dict[int, float] = {}
    for prompts in shared.values():
        for prompt in prompts:
            mass[prompt] = mass.get(prompt, 0.0) + 1 / len(shared) / len(prompts)
    seen: set[int] = set()
    for prompt, probability in battles:
        unseen = sum(m for p, m in mass.items() if p not in seen)
        pairs_with = [pair for pair, prompts in shared.items() if prompt in prompts]
        expected = {1 / len(shared) / len(shared[pair]) / unseen for pair in pairs_with}
        assert any(probability == pytest.approx(e) for e in expected), (probability, expected)
        seen.add(prompt)


def test_once_the_bank_is_exhausted_messages_repeat(client, demo_loaded, session_factory):
    with session_factory() as s:
        bank = s.scalar(select(Prompt.id).where(Prompt.active.is_(True)).order_by(Prompt.id.desc()).limit(1))
        active = len(s.scalars(select(Prompt.id).where(Prompt.active.is_(True))).all())
    for _ in range(active + 2):
        assert client.get("/").status_code == 200
    with session_factory() as s:
        shown = s.scalars(select(Battle.prompt_id)).all()
    assert bank and len(set(shown)) == active and len(shown) == active + 2


def test_the_first_screen_says_the_replies_come_from_ai(client, demo_loaded):
    html = client.get("/").get_data(as_text=True)
    assert AI_SENTENCE in html
    # Before the message and the replies, so it is on the first screen of a phone.
    assert html.index(AI_SENTENCE) < html.index("The message")


def test_the_reveal_counts_votes_until_your_ranking(client, demo_loaded):
    for cast in range(1, MIN_VOTES + 2):
        reveal = vote(client)
        counter = re.search(r'<p class="vote-counter"[^>]*>(.*?)</p>', reveal, re.S).group(1)
        text = " ".join(re.sub(r"<[^>]+>", "", counter).split())
        plural = "" if cast == 1 else "s"
        if cast < MIN_VOTES:
            assert text == f"{cast} vote{plural} cast: {MIN_VOTES - cast} more until your ranking."
            assert "See your ranking" not in counter
        else:
            assert text == f"{cast} votes cast. See your ranking"
        # "New battle" sits in the bottom bar, after the replies, where the vote buttons were.
        assert reveal.index('class="next vote-bar next-bar"') > reveal.index('class="replies"')
        assert 'class="button new-battle"' in reveal.split('class="next vote-bar next-bar"', 1)[1]


def test_the_reveal_names_the_message_emotion_and_links_its_board(client, demo_loaded, session_factory):
    reveal = vote(client)
    with session_factory() as s:
        prompt_id = s.scalar(select(Battle.prompt_id))
        tags = s.execute(
            select(PromptEmotion.category, PromptEmotion.intensity).where(PromptEmotion.prompt_id == prompt_id)
        ).all()
    assert tags, "the demo bank tags every message"
    strongest = sorted(tags, key=lambda t: (-t[1], t[0]))[0][0]
    group = GROUP_OF[strongest]
    assert f"The message was about <strong>{html.escape(strongest, quote=False)}</strong>" in reveal
    link = re.search(r'<p class="message-emotion">.*?href="([^"]+)"', reveal, re.S).group(1)
    board = client.get(link.replace("&amp;", "&"))
    assert board.status_code == 200
    current = re.search(r'class="tab current"[^>]*>([^<]+)</a>', board.get_data(as_text=True)).group(1)
    assert html.unescape(current) == group


def test_a_message_without_an_emotion_shows_none(client, demo_loaded, session_factory):
    with transaction(session_factory) as s:
        s.execute(PromptEmotion.__table__.delete())
    assert 'class="message-emotion"' not in vote(client)


def test_the_board_defines_score_and_says_when_ranks_cannot_be_separated(client, demo_loaded, session_factory):
    for _ in range(12):
        vote(client)
    recompute_now(session_factory)
    html = client.get("/leaderboard").get_data(as_text=True)
    assert "<strong>Score</strong>: how strongly the votes prefer a model" in html
    ranks = [int(r) for r in re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", html)]
    # Twelve votes over six models cannot separate any of them.
    assert len(ranks) == 6 and set(ranks) == {1}
    assert "with 12 votes on this board, all 6 models share rank 1" in " ".join(html.split())


def test_a_separated_board_has_no_tied_note(client, demo_loaded, session_factory):
    # One model beats every other in each of many votes: it is separated from the rest.
    brief = "demo-brief"
    with session_factory() as s:
        brief_id = s.scalar(select(Model.id).where(Model.slug == brief))
    for _ in range(48):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        public_id = client.application.extensions["arena.battle_ids"].unsign(action.split("/")[2])
        with session_factory() as s:
            a, b = s.execute(select(Battle.model_a_id, Battle.model_b_id).where(Battle.public_id == public_id)).one()
        outcome = "model_a" if a == brief_id else "model_b" if b == brief_id else "both_bad"
        client.post(action, data={"outcome": outcome, "csrf_token": csrf}, headers=HX)
    recompute_now(session_factory)
    html = client.get("/leaderboard").get_data(as_text=True)
    ranks = [int(r) for r in re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", html)]
    assert len(set(ranks)) > 1
    assert 'id="tied-note"' not in html


def test_position_and_ties_are_named_as_all_votes_on_a_category_board(client, demo_loaded, session_factory):
    for outcome in ["model_a", "model_b", "tie", "model_a"] * 5:
        vote(client, outcome)
    recompute_now(session_factory)
    overall = " ".join(client.get("/leaderboard").get_data(as_text=True).split())
    assert "Position: the reply shown first (A) won" in overall
    assert "Over all votes, not this board's alone" not in overall
    with session_factory() as s:
        run = s.scalar(select(RatingRun).order_by(RatingRun.id.desc()))
        decisive = run.summary["position"]["decisive"]
        categories = [c for c in run.params.get("categories", ()) if c in GROUP_OF.values()]
    assert isinstance(decisive, int) and f"of {decisive} decisive votes" in overall
    assert categories, "some emotion group got a board"
    board = " ".join(
        client.get("/leaderboard", query_string={"category": categories[0]}).get_data(as_text=True).split()
    )
    assert "Over all votes, not this board's alone: Position: the reply shown first (A) won" in board
    api = client.get("/api/leaderboard", query_string={"category": categories[0]}).get_json()
    assert api["position_ties_board"] == "overall" and api["position"]["decisive"] == decisive


def whole_number_fields(document, path=""):
    """(path, value) for every count in the API document: keys that name a number of votes or battles."""
    counts = {"battles", "decisive", "ties", "n_votes", "votes_to_flip_above", "sessions", "clusters"}
    if isinstance(document, dict):
        for key, value in document.items():
            if key in counts and not isinstance(value, (dict, list)) and value is not None:
                yield f"{path}.{key}", value
            yield from whole_number_fields(value, f"{path}.{key}")
    elif isinstance(document, list):
        for k, value in enumerate(document):
            yield from whole_number_fields(value, f"{path}[{k}]")


def test_counts_in_the_api_are_integers_even_from_an_older_run(client, demo_loaded, session_factory):
    for outcome in ["model_a", "tie", "both_bad", "model_b"] * 6:
        vote(client, outcome)
    recompute_now(session_factory)
    document = client.get("/api/leaderboard").get_json()
    fields = list(whole_number_fields(document))
    assert {"ties", "battles", "decisive"} <= {path.rsplit(".", 1)[1] for path, _ in fields}
    assert all(type(value) is int for _, value in fields), [f for f in fields if type(f[1]) is not int]
    # A run stored before counts were rounded at the source kept the fit's float sums: still whole numbers out.
    with transaction(session_factory) as s:
        run = s.scalar(select(RatingRun).order_by(RatingRun.id.desc()))
        summary = dict(run.summary)
        summary["ties"] = {**summary["ties"], "battles": summary["ties"]["battles"] - 1e-12, "ties": 3.0000000001}
        summary["position"] = {**summary["position"], "decisive": float(summary["position"]["decisive"])}
        s.execute(update(RatingRun).where(RatingRun.id == run.id).values(summary=summary))
    document = client.get("/api/leaderboard").get_json()
    assert type(document["ties"]["battles"]) is int and type(document["ties"]["ties"]) is int
    assert document["ties"]["ties"] == 3
    assert type(document["position"]["decisive"]) is int


def test_your_ranking_uses_the_boards_ranks_and_counts_battles_as_battles(client, app, demo_loaded, session_factory):
    crowd = app.test_client()
    for _ in range(12):
        vote(crowd)
    recompute_now(session_factory)
    for _ in range(MIN_VOTES):
        vote(client, "model_a")
    html = client.get("/me/ranking").get_data(as_text=True)
    crowd_table = html.split('id="crowd-title"', 1)[1].split("</table>", 1)[0]
    shown = {
        name.strip(): int(rank) for rank, name in re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>\s*<td>([^<]+)", crowd_table)
    }
    board = {r["display_name"]: r["rank_ub"] for r in client.get("/api/leaderboard").get_json()["ratings"]}
    assert shown == board
    yours = html.split('id="yours-title"', 1)[1].split("</table>", 1)[0]
    assert ">Your battles</abbr>" in yours and ">Your votes<" not in yours
    column = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>\s*</tr>', yours)]
    assert sum(column) == 2 * MIN_VOTES
    assert f"so the column adds up to twice your {MIN_VOTES} votes ({2 * MIN_VOTES})" in " ".join(html.split())
