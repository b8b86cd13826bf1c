"""The data of `arena judge agreement --suite`: the site's own votes and the judge's pairwise verdicts (or, for a
judge without any, its scores), or LLMFAO's crowd and GPT-4 files. The measures are ratings/judge_suite.py's; the
human ceiling beside them is ratings/reliability.py's."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, EqScore, JudgeVerdict, Model, Vote
from ratings import bradley_terry as bt
from ratings.judge_suite import FIRST, NONE, SECOND, TIE, SuiteInput, suite
from ratings.reliability import as_dict, reliability

LLMFAO_CROWD = "crowd-comparisons.csv"
LLMFAO_JUDGE = "gpt4-crowd-comparisons.csv"
LLMFAO_JUDGE_NAME = "GPT-4 (LLMFAO)"
# The LLMFAO judge is GPT-4, so its family is OpenAI's GPT models ("GPT-NeoXT" is EleutherAI's, not theirs).
LLMFAO_JUDGE_FAMILY = re.compile(r"^GPT[ -]\d")
_LABEL = {"left": FIRST, "right": SECOND, "tie": TIE}


class SuiteInputError(ValueError):
    """Files or arguments the suite cannot read; the message names the problem."""


def _read_csv(path: Path, columns: set[str]) -> list[dict]:
    if not path.is_file():
        raise SuiteInputError(f"no {path.name} in {path.parent} (the LLMFAO folder holds {LLMFAO_CROWD} and "
                              f"{LLMFAO_JUDGE})")  # fmt: skip
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = columns - set(reader.fieldnames or ())
        if missing:
            raise SuiteInputError(f"{path.name} lacks the column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if row["winner"] not in _LABEL:
            raise SuiteInputError(f"{path.name} line {number}: winner {row['winner']!r} is not left, right or tie")
    return rows


def llmfao_suite(directory: Path, *, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The suite on LLMFAO: each pair id is an item (left = its first model), the crowd's votes on it the human
    votes, GPT-4's verdict the judge's. LLMFAO judged every pair in one order only, so no swap flip rate."""
    directory = Path(directory)
    crowd = _read_csv(directory / LLMFAO_CROWD, {"id", "worker", "winner", "left", "right"})
    judged = _read_csv(directory / LLMFAO_JUDGE, {"id", "winner", "left", "right"})
    names = sorted({r["left"] for r in crowd + judged} | {r["right"] for r in crowd + judged})
    index = {name: i for i, name in enumerate(names)}
    verdict = {r["id"]: (r["left"], r["right"], _LABEL[r["winner"]]) for r in judged}
    votes: dict[str, np.ndarray] = {}
    for number, row in enumerate(crowd, start=2):
        if row["id"] in verdict and verdict[row["id"]][:2] != (row["left"], row["right"]):
            raise SuiteInputError(f"{LLMFAO_CROWD} line {number}: pair {row['id']} is shown in another order than "
                                  f"in {LLMFAO_JUDGE}")  # fmt: skip
        votes.setdefault(row["id"], np.zeros(3))[_LABEL[row["winner"]]] += 1
    ids = [i for i in verdict if i in votes]
    if not ids:
        raise SuiteInputError("no LLMFAO pair has both crowd votes and a GPT-4 verdict")
    data = SuiteInput(
        model_a=np.array([index[verdict[i][0]] for i in ids]),
        model_b=np.array([index[verdict[i][1]] for i in ids]),
        human=np.array([votes[i] for i in ids]),
        judge=np.array([verdict[i][2] for i in ids]),
        n_models=len(names),
        own_family=np.array([bool(LLMFAO_JUDGE_FAMILY.match(name)) for name in names]),
    )
    rng = np.random.default_rng(seed)
    result = {
        "source": "llmfao",
        "judge": LLMFAO_JUDGE_NAME,
        "models": len(names),
        **suite(data, rounds=rounds, rng=rng),
    }
    result["humans"] = _human_ceiling(data, rounds=min(rounds, 500), rng=rng)
    return result


def _human_ceiling(data: SuiteInput, *, rounds: int, rng: np.random.Generator) -> dict:
    """How far the voters agree with each other on the same item, and the most a judge could agree with them
    (ratings/reliability.py), from items with votes by two or more people."""
    human = np.asarray(data.human, dtype=float)
    wins = np.zeros((data.n_models, data.n_models))
    np.add.at(wins, (data.model_a, data.model_b), human[:, 0] + human[:, 2] / 2)
    np.add.at(wins, (data.model_b, data.model_a), human[:, 1] + human[:, 2] / 2)
    theta = bt.fit(wins)
    summary = as_dict(reliability(theta[data.model_a] - theta[data.model_b], human, rounds=rounds, rng=rng))
    return {key: summary[key] for key in ("items", "pairs", "agreement", "agreement_decisive", "ceiling",
                                          "ceiling_decisive", "ceiling_bound", "ceiling_bound_decisive")}  # fmt: skip


HUMAN_OF = {"model_a": FIRST, "model_b": SECOND, "tie": TIE, "both_bad": TIE}
# A verdict read into the battle's orientation: as shown (the battle's A shown first), and swapped (its B first).
AS_SHOWN = {"A": FIRST, "B": SECOND, "tie": TIE}
SWAPPED = {"A": SECOND, "B": FIRST, "tie": TIE}


def site_suite(session: Session, judge: str, *, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The suite on the site: each counted vote is an item (one human vote) when the judge gave its battle's pair
    of replies a pairwise verdict (`arena judge pairwise`); its verdict is the one with the replies shown as the
    voter saw them, and the swapped order's verdict gives the flip rate. A judge without any verdict is read from
    its `overall` scores instead (the reply scored higher; equal: a tie), where the order cannot matter. The
    judge's family is its registered model's provider, each reply's family its model's provider."""
    has_verdicts = session.scalar(select(JudgeVerdict.id).where(JudgeVerdict.judge == judge).limit(1)) is not None
    rows = _verdict_items(session, judge) if has_verdicts else _score_items(session, judge)
    providers = dict(session.execute(select(Model.id, Model.provider)).all())
    judge_provider = session.scalar(select(Model.provider).where(Model.slug == judge))
    model_ids = sorted({r[1] for r in rows} | {r[2] for r in rows})
    index = {m: i for i, m in enumerate(model_ids)}
    human = np.zeros((len(rows), 3))
    human[np.arange(len(rows)), [HUMAN_OF[r[0]] for r in rows]] = 1
    data = SuiteInput(
        model_a=np.array([index[r[1]] for r in rows], dtype=np.int64),
        model_b=np.array([index[r[2]] for r in rows], dtype=np.int64),
        human=human,
        judge=np.array([r[3] for r in rows], dtype=np.int64),
        n_models=len(model_ids),
        judge_swapped=np.array([r[4] for r in rows], dtype=np.int64) if has_verdicts else None,
        own_family=None if not judge_provider else np.array([providers.get(m) == judge_provider for m in model_ids]),
    )
    result = {"source": "site", "judge": judge, "judged_by": "verdicts" if has_verdicts else "scores",
              "models": len(model_ids), **suite(data, rounds=rounds, rng=np.random.default_rng(seed))}  # fmt: skip
    if not result["items"]:
        return result
    if not has_verdicts:
        result["swap_flip_rate"]["reason"] = ("the judge scores one reply at a time, so the order cannot change its "
                                              "verdict")  # fmt: skip
    if not judge_provider and result.get("self_family_preference"):
        result["self_family_preference"]["reason"] = f"the judge {judge} is not a registered model with a provider"
    elif has_verdicts and result["self_family_preference"]["value"] is None:
        result["self_family_preference"]["reason"] = "the pairwise judge is never asked about its own family's replies"
    return result


def _counted_votes():
    return (
        select(Vote.outcome, Battle.model_a_id, Battle.model_b_id)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True))
        .order_by(Vote.battle_id)
    )


def _verdict_items(session: Session, judge: str) -> list[tuple]:
    """(outcome, model A, model B, verdict as the voter saw the replies, verdict swapped or NONE) per counted vote
    whose pair of replies the judge gave a verdict; a pair judged only swapped takes that verdict as its own."""
    shown, swapped = aliased(JudgeVerdict), aliased(JudgeVerdict)
    query = (
        _counted_votes()
        .add_columns(shown.verdict, swapped.verdict)
        .outerjoin(shown, (shown.judge == judge) & (shown.reply_first_id == Battle.reply_a_id)
                   & (shown.reply_second_id == Battle.reply_b_id))
        .outerjoin(swapped, (swapped.judge == judge) & (swapped.reply_first_id == Battle.reply_b_id)
                   & (swapped.reply_second_id == Battle.reply_a_id))
        .where((shown.id.is_not(None)) | (swapped.id.is_not(None)))
    )  # fmt: skip
    items = []
    for outcome, a, b, as_shown, other in session.execute(query):
        if as_shown is None:
            items.append((outcome, a, b, SWAPPED[other], NONE))
        else:
            items.append((outcome, a, b, AS_SHOWN[as_shown], NONE if other is None else SWAPPED[other]))
    return items


def _score_items(session: Session, judge: str) -> list[tuple]:
    """(outcome, model A, model B, the reply scored higher, NONE) per counted vote whose two replies both have
    this judge's `overall` score."""
    score_a, score_b = aliased(EqScore), aliased(EqScore)
    query = (
        _counted_votes()
        .add_columns(score_a.score, score_b.score)
        .join(score_a, (score_a.reply_id == Battle.reply_a_id) & (score_a.judge == judge))
        .join(score_b, (score_b.reply_id == Battle.reply_b_id) & (score_b.judge == judge))
        .where(score_a.criterion == "overall", score_b.criterion == "overall")
    )
    return [(outcome, a, b, FIRST if sa > sb else SECOND if sb > sa else TIE, NONE)
            for outcome, a, b, sa, sb in session.execute(query)]  # fmt: skip
