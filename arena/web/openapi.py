"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json.

Written out by hand (one route needs no framework); only the category names come from the taxonomy so the
examples never drift from what the API accepts. tests/test_openapi.py fuzzes every operation against it."""

from __future__ import annotations

from arena.jobs.leaderboard import TABS
from arena.jobs.snapshots import COMPOSITE, ORDERS, TURN_BOARDS
from arena.models import VOTE_REASONS
from arena.taxonomy import EMONET_CATEGORIES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _any_case_pattern(names: list[str]) -> str:
    """A JSON Schema (ECMA-262) pattern matching exactly these names in any letter case, with surrounding
    whitespace: what the API accepts, so fuzzers neither send "valid" names it refuses nor miss ones it takes."""

    def spelled(name: str) -> str:
        return "".join(
            f"[{c.lower()}{c.upper()}]" if c.isalpha() else ("\\" + c if c in "\\^$.|?*+()[]{}" else c) for c in name
        )

    return "^\\s*(?:" + "|".join(spelled(n) for n in names) + ")\\s*$"


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RATING = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "model",
        "display_name",
        "rating",
        "ci_low",
        "ci_high",
        "rank_ub",
        "battles",
        "win_rate",
        "provisional",
    ],  # fmt: skip
    "properties": {
        "model": {"type": "string", "description": "The model's slug."},
        "display_name": {"type": "string"},
        "rating": {"type": "number", "description": "Elo-like scale, mean 1000 unless anchored."},
        "ci_low": {"type": "number", "description": "Lower bound of the 95% interval."},
        "ci_high": {"type": "number", "description": "Upper bound of the 95% interval."},
        "rank_ub": {
            "type": "integer",
            "minimum": 1,
            "description": "1 + the number of models whose lower bound is above this model's upper bound.",
        },
        "rank_ci": {
            "type": ["array", "null"],
            "items": {"type": "integer", "minimum": 1},
            "minItems": 2,
            "maxItems": 2,
            "description": "95% interval of the model's rank within its component (1: best), from the same "
            "bootstrap draws as the rating's interval (normal draws for sandwich and pooled intervals). Null for "
            "runs from before rank intervals.",
        },
        "battles": {"type": "integer", "minimum": 0},
        "win_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "Ties count half."},
        "provisional": {"type": "boolean", "description": "Fewer battles than provisional_below_battles."},
        "component": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Connected component of the comparison graph (0: the largest). Models in different "
            "components were never compared, not even through others; their ratings are on separate scales.",
        },
        "borrowed": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "Pooled emotion boards: the weight of the rest of the votes in this rating "
            "(0: all its own votes, 1: all borrowed). Null on the overall board.",
        },
        "both_bad_share": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "Share of this model's battles voted both bad.",
        },
        "both_bad_ci": {
            "type": "array",
            "items": {"type": ["number", "null"]},
            "minItems": 2,
            "maxItems": 2,
            "description": "95% Wilson interval of both_bad_share.",
        },
        "config_hash": {
            "type": ["string", "null"],
            "pattern": "^[0-9a-f]{64}$",
            "description": "sha256 of the canonical JSON of what is called for this row (litellm model string, "
            "parameters, system prompt, samples); null for a model nothing here calls (imported, demo). A new "
            "configuration of a slug gets a row of its own, so a row never carries another configuration's votes.",
        },
        "variant_of": {
            "type": ["string", "null"],
            "description": "The slug of the row (configuration) this one replaced, now retired; null if none.",
        },
        "new_config": {
            "type": "boolean",
            "description": "A new configuration with fewer counted votes than provisional_new_config_votes "
            "(and so provisional).",
        },
        "retired_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When a newer configuration replaced this row; its replies are no longer drawn.",
        },
        "first_seen": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "The row's first battle (any source), as of the snapshot.",
        },
        "last_seen": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "The row's last battle (any source), as of the snapshot.",
        },
        "sampling_share": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "Share of the battles shown here in the sampling_window_days before the snapshot that "
            "featured this row (the shares add up to 2); null when none was shown or the snapshot predates it.",
        },
        "votes_to_flip_above": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "The fewest counted votes of this board whose removal would swap this model with the "
            "one listed just above it (influence approximation, confirmed by refitting without them: removing "
            "these votes swaps the two, removing one fewer of them does not). Null for the top row, for a model "
            "in another component than the one above, and where no removal of this board's votes would swap "
            "them (on a pooled board the rest of the votes can hold them apart).",
        },
        "acceptable_reply": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "Grounded fit of the run's votes (overall and composite boards): the chance that this "
            "model's reply is better than a just-acceptable one, read from the 'both are bad' votes "
            "(P(both bad) = 1 / (1 + phi_A + phi_B)). Meaningful only when `grounded.measured` is true; null "
            "on other boards and in runs from before it.",
        },
        "acceptable_reply_ci": {
            "type": "array",
            "items": {"type": ["number", "null"]},
            "minItems": 2,
            "maxItems": 2,
            "description": "95% interval of acceptable_reply.",
        },
    },
}

_NULLABLE_OBJECT = {"type": ["object", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}

_LEADERBOARD = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "run_id",
        "category",
        "computed_at",
        "n_votes",
        "ci",
        "bootstrap_rounds",
        "provisional_below_battles",
        "ratings",
    ],  # fmt: skip
    "properties": {
        "run_id": {"type": "integer", "description": "The immutable rating snapshot these ratings come from."},
        "category": {"type": "string", "description": "The canonical name of the category asked for."},
        "computed_at": {"type": "string", "format": "date-time"},
        "n_votes": {"type": "integer", "minimum": 0},
        "ci": {"type": "string", "enum": ["bootstrap", "sandwich", "cluster"]},
        "bootstrap_rounds": {"type": "integer", "minimum": 0},
        "provisional_below_battles": {"type": "integer", "minimum": 0},
        "provisional_new_config_votes": {
            "type": "integer",
            "minimum": 0,
            "description": "ARENA_PROVISIONAL_VOTES: a row opened by a configuration change is provisional until "
            "this many of its own votes count.",
        },
        "sampling_window_days": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "The window of sampling_share; null for snapshots from before it was measured.",
        },
        "ratings": {"type": "array", "items": {"$ref": "#/components/schemas/Rating"}},
        "borrowed": {
            "type": ["number", "null"],
            "description": "Pooled boards: the mean weight of the rest of the votes in this board's ratings.",
        },
        "tau": {
            "type": ["number", "null"],
            "description": "Pooled boards: how far boards of this family differ "
            "from the rest of the votes (logits, posterior geometric mean).",
        },
        "ties": {
            **_NULLABLE_OBJECT,
            "properties": {
                "propensity": _NULLABLE_NUMBER,
                "ci_low": _NULLABLE_NUMBER,
                "ci_high": _NULLABLE_NUMBER,
                "ties": {"type": "integer", "minimum": 0, "description": "Votes the tie model counted as ties."},
                "battles": {"type": "integer", "minimum": 0, "description": "Votes the tie model was fitted on."},
            },
            "description": "Davidson tie model: propensity (chance of a tie between "
            "equally strong models) with ci_low, ci_high; null without ties.",
        },
        "position": {
            **_NULLABLE_OBJECT,
            "properties": {
                "a_share": _NULLABLE_NUMBER,
                "a_share_low": _NULLABLE_NUMBER,
                "a_share_high": _NULLABLE_NUMBER,
                "decisive": {"type": "integer", "minimum": 0, "description": "Votes for A or for B."},
                "position_a": _NULLABLE_NUMBER,
                "position_a_low": _NULLABLE_NUMBER,
                "position_a_high": _NULLABLE_NUMBER,
                "position_a_points": _NULLABLE_NUMBER,
            },
            "description": "Position bias: a_share (side A's share of decisive votes) "
            "with a_share_low, a_share_high; position_a (log-odds edge of side A) with its interval.",
        },
        "position_ties_board": {
            "type": "string",
            "enum": ["overall"],
            "description": "The board `ties` and `position` were worked out on: 'overall', every counted vote of "
            "the run, whichever board this is (a category board's own votes are often too few to tell).",
        },
        "components": {
            "type": ["array", "null"],
            "items": {"type": "array", "items": {"type": "string"}},
            "description": "Model slugs per connected component of the comparison graph, largest first: models in "
            "different components were never compared with each other.",
        },
        "order": {
            "type": "string",
            "enum": list(ORDERS),
            "description": "'all': every counted vote; 'first': each evaluation session's first vote only (and "
            "every vote without a session).",
        },
        "sessions": {
            "type": ["object", "null"],
            "description": "Evaluation sessions in the run: sessions, votes_in_sessions, later_votes (votes after "
            "the first of their session), multi_turn_votes (cast after more than one exchange), clustered_by "
            "('session', 'voter' or null: how the overall board's intervals resampled) and clusters. Null for "
            "runs from before sessions were counted.",
        },
        "grounded": {
            "type": ["object", "null"],
            "description": "The run's grounded fit: both_bad_votes, measured (some both-bad vote fixed the "
            "absolute scale; without, acceptable_reply is close to 1 for every model and says nothing), tie_reading "
            "('half': a tie is half a win each way, as on the board). Null for runs from before it.",
        },
        "composite": {
            "type": ["object", "null"],
            "description": "The composite board only: its judge sources (a judge's reply scores, its pairwise "
            "verdicts), each with judge, source, kind (scores or verdicts), human_votes_per_observation (what one "
            "scored pair of replies or one verdict is worth in human votes, chosen by held-out voters' "
            "log-likelihood), "
            "observations, own_family_replies_left_out, temperature, scale and heldout_loglik ([weight, "
            "log-likelihood per held-out vote] per weight tried); human_votes, folds, folds_by, ci. Null on other "
            "boards.",
        },
        "status": {
            "type": "string",
            "enum": ["complete", "anony-only", "as-of"],
            "description": "'complete': the current board. 'anony-only' and 'as-of': a board rebuilt by `arena "
            "ratings recompute --anony-only` or `--as-of DATE`, stored beside the current one.",
        },
        "scope": {
            "type": ["object", "null"],
            "properties": {"anony_only": {"type": "boolean"}, "as_of": {"type": ["string", "null"]}},
            "description": "What a rebuilt board counted: anonymous votes only, and/or votes cast up to as_of "
            "(ISO time, UTC). Null for the current board.",
        },
        "warnings": {
            "type": "array",
            "items": {"type": "string"},
            "description": "What the reader should know of the run's intervals: a board whose clustered intervals "
            "had too few clusters (one placeholder voter) fell back to independent votes, and says so here.",
        },
    },
}


_NUMBER_OR_NULL = {"type": ["number", "null"]}
_ESTIMATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["n", "value", "ci"],
    "properties": {
        "n": {"type": "integer", "minimum": 0, "description": "Items (pairs of replies) or repeats it rests on."},
        "value": {**_NUMBER_OR_NULL, "description": "The share (0..1); null when there is nothing to measure."},
        "ci": {
            "type": "array",
            "items": _NUMBER_OR_NULL,
            "minItems": 2,
            "maxItems": 2,
            "description": "95% bootstrap interval.",
        },  # fmt: skip
    },
}
_ESTIMATE_REF = {"$ref": "#/components/schemas/Estimate"}
_RELIABILITY_ESTIMATES = {
    "agreement": "Share of pairs of votes by different visitors on the same pair of replies that agree (tie and "
    "both bad one label).",
    "agreement_decisive": "The same over pairs where both votes chose a side.",
    "ceiling": "The most any judge can agree with one visitor's vote, on average (model estimate).",
    "ceiling_decisive": "The same for a judge scored on the votes that chose a side.",
    "ceiling_bound": "A bound on the ceiling that holds whatever the votes' distribution.",
    "ceiling_bound_decisive": "The same on votes that chose a side.",
    "self_consistency": "Share of repeats to the same visitor (sides swapped) with the same verdict as before.",
    "self_consistency_decisive": "The same over repeats where both votes chose a side.",
}
_RELIABILITY = {
    "type": "object",
    "required": ["repeats", "self_repeats", "items", "pairs", *_RELIABILITY_ESTIMATES, "voters", "voters_total"],
    "properties": {
        "repeats": {"type": "integer", "minimum": 0, "description": "Voted repeats whose original counts."},
        "self_repeats": {"type": "integer", "minimum": 0, "description": "Of them, shown to the same visitor."},
        "items": {"type": "integer", "minimum": 0, "description": "Pairs of replies voted by two or more people."},
        "pairs": {"type": "integer", "minimum": 0, "description": "Pairs of votes by different people."},
        **{name: {**_ESTIMATE_REF, "description": text} for name, text in _RELIABILITY_ESTIMATES.items()},
        "voters": {
            "type": "array",
            "description": "Each visitor's self-consistency (no identity), most repeats first; at most 200.",
            "items": {
                "type": "object",
                "required": ["repeats", "agreed", "rate", "ci"],
                "properties": {
                    "repeats": {"type": "integer", "minimum": 1},
                    "agreed": {"type": "integer", "minimum": 0},
                    "rate": {"type": "number"},
                    "ci": {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": 2,
                        "maxItems": 2,
                        "description": "95% Wilson interval.",
                    },  # fmt: skip
                },
            },
        },
        "voters_total": {"type": "integer", "minimum": 0},
        "model": {"type": "object", "description": "The fitted scale, spread and Davidson tie parameter nu."},
    },
}
_RELIABILITY_SNAPSHOT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["run_id", "computed_at", "reliability"],
    "properties": {
        "run_id": {"type": "integer"},
        "computed_at": {"type": ["string", "null"]},
        "reliability": {"oneOf": [{"$ref": "#/components/schemas/Reliability"}, {"type": "null"}]},
    },
}

_REASON_RATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tagged", "share", "ci_low", "ci_high"],
    "properties": {
        "tagged": {"type": "integer", "minimum": 0, "description": "The model's sides tagged with this reason."},
        "share": {"type": "number", "minimum": 0, "maximum": 1},
        "ci_low": {"type": "number", "minimum": 0, "maximum": 1, "description": "95% Wilson interval."},
        "ci_high": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
_REASONS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["votes_with_reasons", "reasons", "denominator", "models"],
    "properties": {
        "votes_with_reasons": {"type": "integer", "minimum": 1},
        "reasons": {"type": "array", "items": {"type": "string", "enum": list(VOTE_REASONS)}},
        "denominator": {"type": "string", "description": "What each share is a share of, in words."},
        "models": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["model", "sides", "rates"],
                "properties": {
                    "model": {"type": "string", "description": "The model's slug."},
                    "sides": {"type": "integer", "minimum": 1, "description": "Its sides in votes with reasons."},
                    "rates": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": list(VOTE_REASONS),
                        "properties": {r: {"$ref": "#/components/schemas/ReasonRate"} for r in VOTE_REASONS},
                    },
                },
            },
        },
    },
}
_REASONS_SNAPSHOT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["run_id", "computed_at", "reasons"],
    "properties": {
        "run_id": {"type": "integer"},
        "computed_at": {"type": ["string", "null"]},
        "reasons": {"oneOf": [{"$ref": "#/components/schemas/Reasons"}, {"type": "null"}]},
    },
}


def _run_parameter(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    }


_ANALYSIS = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "analysis_run_id",
        "rating_run_id",
        "category",
        "computed_at",
        "code_version",
        "feature_set",
        "params",
        "result",
    ],  # fmt: skip
    "properties": {
        "analysis_run_id": {"type": "integer"},
        "rating_run_id": {"type": "integer", "description": "The rating snapshot the analysis refers to."},
        "category": {"type": "string"},
        "computed_at": {"type": "string"},
        "code_version": {"type": "string"},
        "feature_set": {"type": "string", "description": "The reply feature set's version."},
        "params": {"type": "object", "description": "category, min_eq_battles, seed, rounds."},
        "result": {
            "type": "object",
            "description": "As `arena analysis eq --json` printed it: `coefficients` (every effect with `estimate`, "
            "`ci_low`, `ci_high`, `scale`), `correlations`, `controlled_ratings`, `eq_win_rate`, `eq_scatter`, "
            "`turns`, and `prediction` after `arena analysis predict`; other studies add their own keys.",
        },
    },
}


def openapi_document() -> dict:
    categories = [*TABS, *TURN_BOARDS, COMPOSITE, *EMONET_CATEGORIES]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EQ Arena API",
            "version": "1",
            "description": "Read-only JSON twin of the EQ Arena leaderboard. Every error is "
            '`{"error": "<reason>"}` with a 4xx status.',
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": {
            "/api/leaderboard": {
                "get": {
                    "operationId": "getLeaderboard",
                    "summary": "The newest rating snapshot of a category",
                    "parameters": [
                        {
                            "name": "category",
                            "in": "query",
                            "required": False,
                            "description": "'overall' (default), 'conversations' (votes cast after more than one "
                            "exchange), 'single-turn' (votes on one reply each), 'composite' (every vote and the LLM "
                            "judges' scores in one fit), an EmoNet group or an EmoNet category, in any letter case.",
                            "schema": {
                                "type": "string",
                                "default": "overall",
                                "pattern": _any_case_pattern(categories),
                                "examples": categories,
                            },
                        },
                        {
                            "name": "order",
                            "in": "query",
                            "required": False,
                            "description": "'all' (default): every counted vote. 'first': the board of each evaluation "
                            "session's first vote (evaluation_order 1; a vote without a session counts as a first "
                            "vote), as LMArena's analyses that keep order 1; overall board only.",
                            "schema": {"type": "string", "enum": list(ORDERS), "default": "all"},
                        },
                        {
                            "name": "anony",
                            "in": "query",
                            "required": False,
                            "description": "'all' (default): the current board. 'only': the newest board of "
                            "anonymous votes only (`arena ratings recompute --anony-only`: a record's `anony` false "
                            "leaves its vote out), FastChat's published primary column.",
                            "schema": {"type": "string", "enum": ["all", "only"], "default": "all"},
                        },
                        {
                            "name": "run",
                            "in": "query",
                            "required": False,
                            "description": "A rating run's id: that run's board, whatever its kind (an `--as-of` "
                            "rebuild is read this way).",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                        },
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Leaderboard"}, "The ratings, best first."),
                        "400": _json(
                            _ERROR,
                            "The category is not 'overall', a conversation board, an EmoNet group or category; or "
                            "the order is not 'all' or 'first'; or anony is not 'all' or 'only'; or run is not a "
                            "positive whole number.",
                        ),
                        "404": _json(
                            _ERROR,
                            "No rating snapshot covers this category (and order) yet; or order=first with a "
                            "category other than overall (the first-vote board is the overall board's); or no "
                            "anonymous-only board yet (anony=only); or no such run rated this category (run); or "
                            "order=first with anony=only or run.",
                        ),
                        "default": _json(_ERROR, "Any other error, with its reason."),
                    },
                }
            },
            "/api/reliability": {
                "get": {
                    "operationId": "getReliability",
                    "summary": "How far people agree on the same two replies, and the most a judge could agree",
                    "description": "From repeated battles (ARENA_REPEAT_SHARE): the same pair of replies shown "
                    "again, sides swapped, to the same visitor (self-consistency) or to others (human-human "
                    "agreement); measured by the newest recompute (or the rating run `run`). `reliability` is null "
                    "until some repeat was voted on.",
                    "parameters": [_run_parameter("run", "A rating run's id: that run's measures.")],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ReliabilitySnapshot"}, "The newest measures."),
                        "400": _json(_ERROR, "run is not a positive whole number."),
                        "404": _json(_ERROR, "No rating snapshot yet, or no such run."),
                        "default": _json(_ERROR, "Any other error, with its reason."),
                    },
                }
            },
            "/api/analysis": {
                "get": {
                    "operationId": "getAnalysis",
                    "summary": "A stored EQ analysis: what drives preference, with every effect's interval",
                    "description": "The newest `arena analysis eq` of a category (with `arena analysis predict`'s "
                    "result when it ran), or the newest of one rating run (`rating_run`), or one analysis run "
                    "(`run`). `result` is the stored analysis as computed; `arena analysis report` reads the same.",
                    "parameters": [
                        {
                            "name": "category",
                            "in": "query",
                            "required": False,
                            "description": "'overall' (default), an EmoNet group or an EmoNet category, in any "
                            "letter case. Ignored with `run`.",
                            "schema": {
                                "type": "string",
                                "default": "overall",
                                "pattern": _any_case_pattern([*TABS, *EMONET_CATEGORIES]),
                                "examples": [*TABS, *EMONET_CATEGORIES],
                            },
                        },
                        _run_parameter("run", "An analysis run's id: that analysis."),
                        _run_parameter("rating_run", "A rating run's id: the newest analysis of that run."),
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Analysis"}, "The analysis."),
                        "400": _json(
                            _ERROR,
                            "The category is not 'overall', an EmoNet group or category; or run "
                            "or rating_run is not a positive whole number.",
                        ),  # fmt: skip
                        "404": _json(_ERROR, "No such analysis (yet)."),
                        "default": _json(_ERROR, "Any other error, with its reason."),
                    },
                }
            },
            "/api/reasons": {
                "get": {
                    "operationId": "getReasons",
                    "summary": "Why people voted: per model, the share of its replies tagged with each reason",
                    "description": "Voters may tap optional reasons per reply after their vote (felt heard, "
                    "practical help, too long, preachy, cold, flattering, unsafe). Measured by the newest recompute "
                    "over counted votes that carry at least one reason; `reasons` is null until one does. Reasons "
                    "never change the leaderboard.",
                    "parameters": [_run_parameter("run", "A rating run's id: that run's rates.")],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ReasonsSnapshot"}, "The rates."),
                        "400": _json(_ERROR, "run is not a positive whole number."),
                        "404": _json(_ERROR, "No rating snapshot (or no such run) yet."),
                        "default": _json(_ERROR, "Any other error, with its reason."),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document",
                    "responses": {
                        "200": _json({"type": "object", "required": ["openapi", "paths"]}, "OpenAPI 3.1"),
                        "default": _json(_ERROR, "Any error, with its reason."),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["error"],
                    "properties": {"error": {"type": "string", "minLength": 1, "description": "What went wrong."}},
                },
                "Rating": _RATING,
                "Leaderboard": _LEADERBOARD,
                "Estimate": _ESTIMATE,
                "Reliability": _RELIABILITY,
                "ReliabilitySnapshot": _RELIABILITY_SNAPSHOT,
                "Analysis": _ANALYSIS,
                "ReasonRate": _REASON_RATE,
                "Reasons": _REASONS,
                "ReasonsSnapshot": _REASONS_SNAPSHOT,
            }
        },
    }
