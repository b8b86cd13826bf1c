"""The EQ analysis: how much of human preference do emotional intelligence, length, format and sycophancy
explain? Battle rows -> covariate differences -> BT with covariates (ratings.covariates), plus the rank
correlation of arena ratings with model-level EQ benchmarks. One AnalysisRun stores the whole result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from arena.ingest.demo import DEMO_EQ_BENCHMARK
from arena.ingest.eq_scores import match_snapshots
from arena.jobs import arm_study, edit_effects, vote_reasons
from arena.jobs.arm_study import ARM_PREFIX, studied_votes
from arena.jobs.features import FEATURE_SET_VERSION, FEATURES, reply_features
from arena.jobs.recompute import code_version, in_category
from arena.jobs.snapshots import OVERALL, latest_analysis, latest_run, resolve_category
from arena.models import (
    AnalysisRun,
    Battle,
    BattleReplyFeature,
    Conversation,
    ConversationScore,
    EqScore,
    Model,
    Rating,
    RatingRun,
    Reply,
    ReplyFeature,
    Vote,
)
from ratings.correlation import rank_correlations, se_from_interval
from ratings.covariates import POSITION, CovariateBattles, fit_covariates

FEATURE_NAMES = tuple(f.name for f in FEATURES)
# Count features enter as normalised differences (a - b) / (a + b + 1), as LMArena's style control does;
# length is the same transform on tokens.
COVARIATES = {
    "length_ratio": "tokens",
    "headers": "headers",
    "list_items": "list_items",
    "bold": "bold",
    "questions": "questions",
    "validation": "validation",
    "apology": "apology",
    "advice": "advice",
    "referral": "referral",
    "sycophancy": "sycophancy",
}
EQ_COVARIATE = "eq_overall"
# Conversation length (Vote.turns, the exchanges the voter had seen), as extra exchanges beyond the first, enters
# only through what differs between the sides: with the position of the reply shown first (does the first side's
# edge grow or shrink as a conversation goes on), and times the EQ and length differences (does emotional
# intelligence, or length, matter more in a longer conversation). At one exchange all three are 0, so eq_overall
# and length_ratio stay the effects of a single reply. They enter only when some battle had several exchanges.
TURN_COVARIATES = {"turns_position": None, "eq_overall_x_turns": EQ_COVARIATE, "length_ratio_x_turns": "length_ratio"}
COVARIATE_DOCS = {
    "length_ratio": "(tokens_a - tokens_b) / (tokens_a + tokens_b + 1)",
    "eq_overall": "reply-level EQ score of A minus B, in points of the judge's 0-10 scale",
    POSITION: "1 in every battle: the log-odds edge of the reply shown first (side A), strengths held equal",
    "turns_position": "turns - 1 (exchanges the voter saw beyond the first): the change of side A's edge per exchange",
    "eq_overall_x_turns": "eq_overall x (turns - 1): the change of the EQ effect per further exchange",
    "length_ratio_x_turns": "length_ratio x (turns - 1): the change of the length effect per further exchange",
    **{
        name: f"({f}_a - {f}_b) / ({f}_a + {f}_b + 1), {f} as in the feature set"
        for name, f in COVARIATES.items()
        if name != "length_ratio"
    },
}
# Covariates reported per unit rather than per SD: yes-or-no properties of a side (the reply shown first, a
# presentation arm; a constant column's SD is 0, so "per SD" would say every such effect is nothing) and counts
# whose unit means something on its own (one more exchange).
PER_UNIT = frozenset({POSITION, "turns_position"})


def per_unit(name: str) -> bool:
    return name in PER_UNIT or name.startswith(ARM_PREFIX)


SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}
EQ_BINS = (-10.0, -3.0, -1.0, 1.0, 3.0, 10.0)
MIN_CLUSTERS = 30
# The ridge on covariate effects: a normal prior with SD 1 on the log-odds per SD of each covariate (an odds
# ratio of e per SD is already a very strong effect), weak next to a few dozen battles, and what keeps an early
# site's estimates finite when a feature alone predicts the few votes it touches.
BETA_PRIOR = 1.0


class AnalysisError(ValueError):
    """The analysis cannot run (no rating run, too few battles, ...); the message says why."""


@dataclass
class BattleTable:
    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    voter: np.ndarray
    features_a: np.ndarray  # (n, len(FEATURE_NAMES)), NaN where unknown
    features_b: np.ndarray
    eq_a: np.ndarray  # NaN where unknown
    eq_b: np.ndarray
    # Exchanges the voter had seen (Vote.turns); 1 for a single reply.
    turns: np.ndarray | None = None
    # The battle of each row (for the held-out prediction's emotion groups), and its prompt (-1: none).
    battle_id: np.ndarray | None = None
    prompt_id: np.ndarray | None = None
    # Presentation arms (arena/voting/arms.py): each side's arm (None: as stored), and whether the battle was drawn
    # with arms declared at all (only those battles are in the randomised study's balance tables).
    arm_a: np.ndarray | None = None
    arm_b: np.ndarray | None = None
    arm_drawn: np.ndarray | None = None


def _vector(features: dict | None) -> list[float]:
    features = features or {}
    return [float(features[n]) if features.get(n) is not None else np.nan for n in FEATURE_NAMES]


def _conv_metadata_features(meta: dict, side: str) -> dict | None:
    """Style counts from LMArena's conv_metadata, for imported battles that carry no text."""
    conv = meta.get("conv_metadata") or {}
    tokens = conv.get(f"sum_assistant_{side}_tokens")
    if tokens is None:
        return None
    headers = conv.get(f"header_count_{side}") or {}
    lists = conv.get(f"list_count_{side}") or {}
    bold = conv.get(f"bold_count_{side}") or {}
    return {
        "tokens": tokens,
        "headers": sum(headers.values()) if isinstance(headers, dict) else None,
        "list_items": sum(lists.values()) if isinstance(lists, dict) else None,
        "bold": sum(bold.values()) if isinstance(bold, dict) else None,
    }


def _last_assistant_turn(conversation) -> str | None:
    texts = [t.get("content") for t in conversation or () if isinstance(t, dict) and t.get("role") == "assistant"]
    return texts[-1] if texts and isinstance(texts[-1], str) else None


def _eq_from_meta(value) -> float:
    if isinstance(value, dict) and isinstance(value.get("overall"), (int, float)):
        return float(value["overall"])
    return np.nan


def ensure_features(factory: sessionmaker[Session], category: tuple[str, ...] | None) -> int:
    """Compute and store the features of every reply in counted battles that lacks them (resumable)."""
    added = 0
    with factory() as session, session.begin():
        battles = select(Battle.reply_a_id, Battle.reply_b_id).join(Vote, Vote.battle_id == Battle.id)
        if category is not None:
            battles = battles.where(in_category(category))
        reply_ids = {r for row in session.execute(battles) for r in row if r is not None}
        have = set(session.scalars(select(ReplyFeature.reply_id).where(ReplyFeature.version == FEATURE_SET_VERSION)))
        missing = sorted(reply_ids - have)
        for start in range(0, len(missing), 1000):
            chunk = missing[start : start + 1000]
            for reply_id, text in session.execute(select(Reply.id, Reply.text).where(Reply.id.in_(chunk))):
                session.add(ReplyFeature(reply_id=reply_id, version=FEATURE_SET_VERSION, features=reply_features(text)))
                added += 1
        # Imported battles with conversation text but no Reply rows: features per battle side.
        imported = select(Battle.id, Battle.meta).where(Battle.source == "import", Battle.reply_a_id.is_(None))
        if category is not None:
            imported = imported.where(in_category(category))
        done = set(
            session.scalars(
                select(BattleReplyFeature.battle_id).where(BattleReplyFeature.version == FEATURE_SET_VERSION)
            )
        )
        for battle_id, meta in session.execute(imported):
            if battle_id in done:
                continue
            for side in ("a", "b"):
                text = _last_assistant_turn((meta or {}).get(f"conversation_{side}"))
                if text is not None:
                    session.add(
                        BattleReplyFeature(
                            battle_id=battle_id, side=side, version=FEATURE_SET_VERSION, features=reply_features(text)
                        )
                    )
                    added += 1
    return added


def load_battles(session: Session, model_index: dict[int, int], category: tuple[str, ...] | None) -> BattleTable:
    reply_features_by_id = dict(
        session.execute(
            select(ReplyFeature.reply_id, ReplyFeature.features).where(ReplyFeature.version == FEATURE_SET_VERSION)
        ).all()
    )
    side_features = {
        (b, s): f
        for b, s, f in session.execute(
            select(BattleReplyFeature.battle_id, BattleReplyFeature.side, BattleReplyFeature.features).where(
                BattleReplyFeature.version == FEATURE_SET_VERSION
            )
        )
    }
    eq_by_reply = dict(
        session.execute(select(EqScore.reply_id, EqScore.score).where(EqScore.criterion == "overall")).all()
    )
    # A conversation's EQ is the judge's score of the whole of it (`arena judge --conversations`) where there is one:
    # its first answer's score says nothing of the turns after it. Keyed as arena.voting.conversations.score_owner.
    conversation_eq = {
        (c, s): v
        for c, s, v in session.execute(
            select(ConversationScore.conversation_id, ConversationScore.side, ConversationScore.score).where(
                ConversationScore.scope == "conversation", ConversationScore.criterion == "overall"
            )
        )
    }
    transcript_of_reply = (
        dict(
            session.execute(
                select(Conversation.reply_id, Conversation.id).where(Conversation.reply_id.is_not(None))
            ).all()
        )
        if conversation_eq
        else {}
    )
    stmt = (
        select(
            Battle.id,
            Vote.model_a_id,
            Vote.model_b_id,
            Vote.outcome,
            Battle.judge_key,
            Battle.reply_a_id,
            Battle.reply_b_id,
            Battle.meta,
            Vote.turns,
            Conversation.evaluation_session,
            Conversation.id,
            Conversation.mode,
            Battle.prompt_id,
            Battle.arm_a,
            Battle.arm_b,
            Battle.arm_a_prob,
        )
        .join(Vote, Vote.battle_id == Battle.id)
        .outerjoin(Conversation, Conversation.battle_id == Battle.id)
        .where(studied_votes())
        .order_by(Battle.id)
    )
    if category is not None:
        stmt = stmt.where(in_category(category))
    a, b, score, voters, fa, fb, eqa, eqb, turns, ids = [], [], [], [], [], [], [], [], [], []
    prompts, arm_a, arm_b, arm_drawn = [], [], [], []
    voter_ids: dict[str, int] = {}
    rows = session.execute(stmt).yield_per(20_000)
    for (battle_id, ma, mb, outcome, judge, ra, rb, meta, seen, evaluation_session, conversation_id, mode,
         prompt_id, side_arm_a, side_arm_b, arm_prob) in rows:  # fmt: skip
        if ma not in model_index or mb not in model_index:
            continue
        meta = meta or {}
        ids.append(battle_id)
        prompts.append(-1 if prompt_id is None else prompt_id)
        arm_a.append(side_arm_a)
        arm_b.append(side_arm_b)
        arm_drawn.append(arm_prob is not None)
        a.append(model_index[ma])
        b.append(model_index[mb])
        score.append(SCORE[outcome])
        turns.append(seen or 1)
        # A vote without a voter key is its own cluster, unless its evaluation session (one sitting) groups it.
        cluster = judge or (f"session:{evaluation_session}" if evaluation_session else f"battle:{battle_id}")
        voters.append(voter_ids.setdefault(cluster, len(voter_ids)))
        for side, reply_id, out, eq_out in (("a", ra, fa, eqa), ("b", rb, fb, eqb)):
            if reply_id is not None:
                features = reply_features_by_id.get(reply_id)
                eq = eq_by_reply.get(reply_id, np.nan)
            else:
                features = side_features.get((battle_id, side)) or _conv_metadata_features(meta, side)
                eq = _eq_from_meta(meta.get(f"eq_{side}"))
            if conversation_eq and conversation_id is not None:
                owner = (transcript_of_reply.get(reply_id), "own") if mode == "transcript" else (conversation_id, side)
                eq = conversation_eq.get(owner, eq)
            out.append(_vector(features))
            eq_out.append(eq)
    width = len(FEATURE_NAMES)
    return BattleTable(
        model_a=np.array(a, dtype=np.int64),
        model_b=np.array(b, dtype=np.int64),
        score=np.array(score, dtype=np.float64),
        voter=np.array(voters, dtype=np.int64),
        features_a=np.array(fa, dtype=np.float64).reshape(-1, width),
        features_b=np.array(fb, dtype=np.float64).reshape(-1, width),
        eq_a=np.array(eqa, dtype=np.float64),
        eq_b=np.array(eqb, dtype=np.float64),
        turns=np.array(turns, dtype=np.int64),
        battle_id=np.array(ids, dtype=np.int64),
        prompt_id=np.array(prompts, dtype=np.int64),
        arm_a=np.array(arm_a, dtype=object),
        arm_b=np.array(arm_b, dtype=object),
        arm_drawn=np.array(arm_drawn, dtype=bool),
    )


def covariates(table: BattleTable, min_eq_battles: int) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """(X, names, rows used, dropped names). A covariate known for under half the battles is left out; so is
    one that never varies. eq_overall enters when at least `min_eq_battles` battles have it on both sides."""
    columns, names, dropped = [], [], []
    for name, feature in COVARIATES.items():
        k = FEATURE_NAMES.index(feature)
        x_a, x_b = table.features_a[:, k], table.features_b[:, k]
        columns.append((x_a - x_b) / (x_a + x_b + 1.0))
        names.append(name)
    eq_known = np.isfinite(table.eq_a) & np.isfinite(table.eq_b)
    if eq_known.sum() >= min_eq_battles:
        columns.append(table.eq_a - table.eq_b)
        names.append(EQ_COVARIATE)
    else:
        dropped.append(EQ_COVARIATE)
    extra = _extra_turns(table)
    if extra is not None:
        for name, base in TURN_COVARIATES.items():
            if base is None:
                columns.append(extra.astype(np.float64))
            elif base in names:
                columns.append(columns[names.index(base)] * extra)
            else:
                dropped.append(name)
                continue
            names.append(name)
    # Presentation arms: drawn at random per side, so each indicator's coefficient is the arm's causal effect.
    arm_columns, arm_names = arm_study.columns(table.arm_a, table.arm_b)
    columns += arm_columns
    names += arm_names
    matrix = np.column_stack(columns) if columns else np.empty((len(table.score), 0))
    known = np.isfinite(matrix)
    # The EQ covariate (and its interaction) is kept however few battles have it: it restricts the rows instead.
    eq_columns = (EQ_COVARIATE, "eq_overall_x_turns")
    keep_cols = [j for j in range(matrix.shape[1]) if known[:, j].mean() >= 0.5 or names[j] in eq_columns]
    dropped += [names[j] for j in range(matrix.shape[1]) if j not in keep_cols]
    matrix, names = matrix[:, keep_cols], [names[j] for j in keep_cols]
    rows = np.all(np.isfinite(matrix), axis=1)
    varying = [j for j in range(matrix.shape[1]) if rows.any() and np.ptp(matrix[rows, j]) > 0]
    dropped += [names[j] for j in range(matrix.shape[1]) if j not in varying]
    # Position bias: a constant column, identified because sides are drawn at random (each pair is seen both ways).
    matrix = np.column_stack([matrix[:, varying], np.ones(len(table.score))])
    return matrix, [*(names[j] for j in varying), POSITION], rows, dropped


def _extra_turns(table: BattleTable) -> np.ndarray | None:
    """Exchanges beyond the first per battle, or None when every battle was a single reply."""
    if table.turns is None or not np.any(table.turns > 1):
        return None
    return np.maximum(table.turns - 1, 0)


def turns_summary(table: BattleTable, fit, names: list[str], rows: np.ndarray) -> dict | None:
    """Battles per number of exchanges seen and, when the EQ interaction was fitted, the EQ effect (log-odds per
    point of the judge's scale) at each number of exchanges with its standard error: eq_overall + (t - 1)
    eq_overall_x_turns, its variance from the fit's covariance of the two."""
    if _extra_turns(table) is None:
        return None
    counts = np.bincount(table.turns[rows]) if rows.any() else np.zeros(0)
    out = {
        "battles_by_turns": {str(t): int(c) for t, c in enumerate(counts) if c},
        "multi_turn_battles": int((table.turns[rows] > 1).sum()),
        "eq_effect_by_turns": [],
    }
    if fit is None or EQ_COVARIATE not in names or "eq_overall_x_turns" not in names:
        return out
    n = fit.n_models
    i, j = n + names.index(EQ_COVARIATE), n + names.index("eq_overall_x_turns")
    reasons = dict(zip(fit.names, fit.identified(), strict=True))
    if reasons[EQ_COVARIATE] is not None or reasons["eq_overall_x_turns"] is not None:
        return out
    for t, c in enumerate(counts):
        if t < 1 or not c:
            continue
        k = t - 1
        estimate = float(fit.beta[i - n] + k * fit.beta[j - n])
        variance = fit.covariance[i, i] + k * k * fit.covariance[j, j] + 2 * k * fit.covariance[i, j]
        se = float(np.sqrt(max(variance, 0.0)))
        out["eq_effect_by_turns"].append(
            {"turns": t, "battles": int(c), "estimate": _round(estimate), "se": _round(se),
             "ci_low": _round(estimate - 1.959963984540054 * se), "ci_high": _round(estimate + 1.959963984540054 * se)}
        )  # fmt: skip
    return out


def eq_win_rate_bins(table: BattleTable) -> list[dict]:
    """A's win rate (ties half) by the EQ difference of the two replies, with a normal-approximation 95% CI."""
    diff = table.eq_a - table.eq_b
    known = np.isfinite(diff)
    bins = []
    for low, high in zip(EQ_BINS[:-1], EQ_BINS[1:], strict=True):
        inside = known & (diff >= low) & ((diff < high) if high < EQ_BINS[-1] else (diff <= high))
        n = int(inside.sum())
        if n == 0:
            bins.append({"low": low, "high": high, "n": 0, "win_rate": None, "ci_low": None, "ci_high": None})
            continue
        rate = float(table.score[inside].mean())
        half = 1.959963984540054 * float(table.score[inside].std(ddof=0)) / np.sqrt(n)
        bins.append(
            {
                "low": low,
                "high": high,
                "n": n,
                "win_rate": rate,
                "ci_low": max(0.0, rate - half),
                "ci_high": min(1.0, rate + half),
            }
        )
    return bins


def _round(value: float, places: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), places)


ESTIMATE_FIELDS = ("estimate", "se", "ci_low", "ci_high", "estimate_std", "odds_ratio", "std_ci_low", "std_ci_high")
PER_SD_FIELDS = ("estimate_std", "std_ci_low", "std_ci_high")


def _coefficient_row(c, data_share: float | None) -> dict:
    """A coefficient the battles cannot pin down is reported without numbers (null) and with the reason: its
    estimate would be the prior's guess, or an artefact of separation, not a finding."""
    row = {
        "feature": c.feature,
        "identified": c.identified,
        "reason": c.reason,
        "data_share": _round(data_share, 4) if data_share is not None else None,
        # The scale the page states the effect on: "unit" (with it against without it) or "sd" (a typical
        # difference); the per-SD numbers of a per-unit covariate are null, not the zero a constant's SD makes.
        "scale": "unit" if per_unit(c.feature) else "sd",
    }
    for field in ESTIMATE_FIELDS:
        unscaled = per_unit(c.feature) and field in PER_SD_FIELDS
        row[field] = _round(getattr(c, field)) if c.identified and not unscaled else None
    return row


def analyse(
    factory: sessionmaker[Session],
    read_factory: sessionmaker[Session],
    *,
    category: str = OVERALL,
    rating_run_id: int | None = None,
    min_eq_battles: int = 50,
    seed: int = 0,
    rounds: int = 2000,
) -> dict:
    label, categories = resolve_category(category)
    ensure_features(factory, categories)
    with read_factory() as session:
        run = session.get(RatingRun, rating_run_id) if rating_run_id is not None else latest_run(session, label)
        if run is None:
            raise AnalysisError(f"no rating run for {label!r}: run `arena ratings recompute` first")
        ratings = session.execute(
            select(Rating, Model)
            .join(Model, Model.id == Rating.model_id)
            .where(Rating.run_id == run.id, Rating.category == label)
        ).all()
        if not ratings:
            raise AnalysisError(f"rating run {run.id} has no ratings for {label!r}")
        model_ids = [r.model_id for r, _ in ratings]
        model_index = {m: k for k, m in enumerate(model_ids)}
        table = load_battles(session, model_index, categories)
        matches = match_snapshots(session, model_ids)
        heard = vote_reasons.mediator_by_battle(session)
        armed_prompts = {int(p) for p in table.prompt_id[table.arm_drawn] if p >= 0}
        arm_groups = arm_study.prompt_groups(session, armed_prompts) if armed_prompts else {}
        # The edits study (votes between a reply and its edit): its own votes, never on a board, so whatever board.
        edits = edit_effects.measure(session)
    result: dict = {
        "rating_run_id": run.id,
        "category": label,
        "feature_set": FEATURE_SET_VERSION,
        "n_battles": int(len(table.score)),
        "coefficients": [],
        "correlations": [],
        "controlled_ratings": [],
        "covariate_docs": COVARIATE_DOCS,
        "eq_win_rate": eq_win_rate_bins(table),
        "edits": edits,
    }
    matrix, names, rows, dropped = covariates(table, min_eq_battles)
    result["dropped_covariates"] = dropped
    result["covariate_docs"] = {**COVARIATE_DOCS, **arm_study.docs(names)}
    result["covariate_fit_error"] = None
    # Voter-clustered errors need many voters: with a handful, the clustered "meat" collapses towards zero and
    # the intervals become falsely narrow. Below the threshold, errors are robust per battle.
    n_voters = len(np.unique(table.voter[rows]))
    result["clustered_by_voter"] = bool(n_voters >= MIN_CLUSTERS)
    fit = None
    if names and rows.sum() >= max(20, 5 * len(names)):
        battles = CovariateBattles(
            n_models=len(model_ids),
            model_a=table.model_a[rows],
            model_b=table.model_b[rows],
            score=table.score[rows],
            features=matrix[rows],
            names=tuple(names),
            cluster=table.voter[rows] if result["clustered_by_voter"] else None,
        )
        try:
            fit = fit_covariates(battles, beta_prior=BETA_PRIOR)
        except (ValueError, RuntimeError) as exc:
            # Collinear covariates (say, a style that one model always has) or separated data: report, not crash.
            fit = None
            result["covariate_fit_error"] = str(exc)
        if fit is not None:
            result["n_battles"] = int(rows.sum())
            shares = fit.data_share if fit.data_share is not None else [None] * len(fit.names)
            result["coefficients"] = [
                _coefficient_row(c, share) for c, share in zip(fit.coefficients(), shares, strict=True)
            ]
            rating, low, high = fit.controlled_ratings()
            result["controlled_ratings"] = sorted(
                (
                    {
                        "model": m.slug,
                        "rating": _round(rating[k], 3),
                        "ci_low": _round(low[k], 3),
                        "ci_high": _round(high[k], 3),
                    }
                    for k, (_, m) in enumerate(ratings)
                ),
                key=lambda r: -r["rating"],
            )
    # Conversation length: battles per number of exchanges seen, and the EQ effect at each (null: single replies).
    result["turns"] = turns_summary(table, fit, names, rows)
    # Why people voted: how much of the EQ effect runs through "felt heard" (null numbers, with a reason, until
    # enough votes carry reasons).
    result["mediation"] = vote_reasons.mediation(table, len(model_ids), heard, seed=seed)
    # Presentation arms: each arm's effect in points of win chance, and the balance of the draw (null: no arms).
    result["arms"] = arm_study.summary(
        table, fit, names, rows, slugs=[m.slug for _, m in ratings], groups=arm_groups, seed=seed,
        on_board=(run.params or {}).get("arms_on_board"),
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    by_model = {r.model_id: r for r, _ in ratings}
    slugs = {m.id: m.slug for _, m in ratings}
    result["eq_scatter"] = {"benchmark": None, "snapshot": None, "points": [], "illustrative": False}
    for match in matches:
        pairs = [(by_model[m], entry) for m, entry in match.matched if m in by_model]
        entry_row = {
            "benchmark": match.benchmark,
            "snapshot": match.snapshot,
            "n_models": len(pairs),
            "unmatched": match.unmatched,
            # The demo's made-up persona scores: shown, but never as a benchmark's finding.
            "illustrative": match.benchmark == DEMO_EQ_BENCHMARK,
        }
        if len(pairs) < 3:
            result["correlations"].append(
                {**entry_row, "method": None, "estimate": None, "ci_low": None, "ci_high": None}
            )
            continue
        arena = np.array([r.rating for r, _ in pairs])
        arena_se = se_from_interval([r.ci_low for r, _ in pairs], [r.ci_high for r, _ in pairs])
        scores = np.array([e.score for _, e in pairs])
        score_se = np.array(
            [
                0.0 if e.ci_low is None or e.ci_high is None else float(se_from_interval(e.ci_low, e.ci_high))
                for _, e in pairs
            ]
        )
        points = [
            {"model": slugs[r.model_id], "rating": _round(r.rating, 3), "rating_ci_low": _round(r.ci_low, 3),
             "rating_ci_high": _round(r.ci_high, 3), "score": _round(e.score, 4), "score_ci_low": _round(e.ci_low, 4),
             "score_ci_high": _round(e.ci_high, 4), "benchmark_name": e.model_name}
            for r, e in pairs
        ]  # fmt: skip
        # The scatter shows the snapshot with most models; a real benchmark's before the demo's illustrative one.
        shown = result["eq_scatter"]
        rank = (not entry_row["illustrative"], len(points))
        if not shown["points"] or rank > (not shown["illustrative"], len(shown["points"])):
            result["eq_scatter"] = {"benchmark": match.benchmark, "snapshot": match.snapshot, "points": points,
                                    "illustrative": entry_row["illustrative"]}  # fmt: skip
        for c in rank_correlations(arena, scores, rng, rating_se=arena_se, score_se=score_se, rounds=rounds):
            result["correlations"].append(
                {
                    **entry_row,
                    "method": c.method,
                    "estimate": _round(c.estimate),
                    "ci_low": _round(c.ci_low),
                    "ci_high": _round(c.ci_high),
                }
            )
    with factory() as session, session.begin():
        # The last `arena analysis predict` stays on the page (with its own date and vote count) until the next.
        previous = latest_analysis(session, label)
        if previous is not None and previous.result.get("prediction"):
            result["prediction"] = previous.result["prediction"]
        stored = AnalysisRun(
            rating_run_id=run.id,
            feature_version=FEATURE_SET_VERSION,
            code_version=code_version(),
            params={"category": label, "min_eq_battles": min_eq_battles, "seed": seed, "rounds": rounds},
            result=result,
        )
        session.add(stored)
        session.flush()
        result["analysis_run_id"] = stored.id
    return result
