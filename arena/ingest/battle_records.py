"""One battle record, in any shape it is published in, read into a validated StagedBattle.

Shapes (DESIGN §5): FastChat's battle schema (clean_battle_*.json, chatbot_arena_conversations:
question_id, model_a, model_b, winner, judge or judge_hash, anony, turn, language, tstamp in seconds, the
conversations), LMArena's arena-human-preference-100k (the same columns plus conv_metadata and category_tag)
and -140k (`id`, `timestamp`, conversations whose content is a list of typed parts), and the Kaggle "LLM
Classification Finetuning" 55k set (`id`, `prompt`, `response_a`/`_b` as JSON lists of turns, one-hot
`winner_model_a`/`_b`/`_tie`). A raw `judge` (a voter's name or address in FastChat's files) is hashed with the
site's key as soon as it is read and never stored.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from arena.ingest.battle_conversations import StagedConversation, conversation_plan
from arena.ingest.catalog import CatalogError, emotion_tags
from arena.models import VOTE_REASONS

WINNERS = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "both_bad",
    "both_bad": "both_bad",
}
# Fields kept verbatim in the battle's metadata.
KEPT_FIELDS = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b", "turn", "anony",
               "eq_conversation_a", "eq_conversation_b", "judge_verdicts")  # fmt: skip
JSON_FIELDS = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b",
               "eq_conversation_a", "eq_conversation_b", "judge_verdicts")  # fmt: skip
JSON_FIELD_SET = frozenset(JSON_FIELDS)
EMOTION_TAG = "emotion_v0.1"
KAGGLE_WINNERS = (("winner_model_a", "model_a"), ("winner_model_b", "model_b"), ("winner_tie", "tie"))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = 32_503_680_000  # the year 3000


class MissingSecret(RuntimeError):
    """A file names its voters (`judge`) but no site key is configured to hash them: the whole import stops."""


class StagedBattle(NamedTuple):
    question_id: str
    # True when the file gave no id and it was derived from the record's content (see vote_import).
    derived_id: bool
    model_a: str
    model_b: str
    outcome: str
    # Seconds since the epoch (UTC); turned into a timestamp by the database.
    tstamp: float
    judge_key: str | None
    language: str | None
    prompt_text: str | None
    emotions: list
    meta: dict
    counts: bool
    exclusion_reason: str | None
    # A multi-turn conversation or an evaluation session (battle_conversations); None for a single-turn record.
    conversation: StagedConversation | None = None
    # Exchanges the voter saw (Vote.turns): 1 unless the record holds a multi-turn conversation.
    turns: int = 1
    # The vote's reasons (an EQ Arena export's reasons_a / reasons_b): (side, reason) pairs, each once.
    reasons: tuple[tuple[str, str], ...] = ()


def no_site_key(_judge: str) -> str:
    raise MissingSecret("the file names its voters (`judge`); set ARENA_SECRET_KEY so they can be hashed")


def _first_user_turn(conversation) -> str | None:
    for turn in conversation or ():
        if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
            return turn["content"]
    return None


def _flatten_parts(conversation):
    """arena-human-preference-140k gives a turn's content as typed parts [{"type": "text", "text": ...}]; the
    arena keeps the text."""
    if not isinstance(conversation, list):
        return conversation
    turns = []
    for turn in conversation:
        content = turn.get("content") if isinstance(turn, dict) else None
        if isinstance(content, list):
            texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            turn = {"role": turn.get("role"), "content": "\n".join(texts)}
        turns.append(turn)
    return turns


def _check_conversation(name: str, value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in value
    ):
        raise ValueError(f"{name} must be a list of {{role, content}} turns")


def _eq_value(name: str, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
        raise ValueError(f"{name} must be a number or an object of numbers")
    scores = value if isinstance(value, dict) else {"overall": value}
    for key, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"{name}.{key} must be a finite number")
    return scores


def _flag(name: str, value) -> bool:
    """A true/false cell as JSON, CSV ("True", "1") or Parquet give it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false; got {value!r}")


def _text_list(name: str, value) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not a JSON list of texts ({exc.msg})") from exc
    if not isinstance(value, list) or not all(v is None or isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of texts")
    return [v or "" for v in value]


def from_kaggle(record: dict) -> dict:
    """A Kaggle 55k row as a battle record: the one-hot winner spelled out, the turns as conversations."""
    chosen = [outcome for column, outcome in KAGGLE_WINNERS if _flag(column, record.get(column, 0))]
    if len(chosen) != 1:
        raise ValueError("exactly one of winner_model_a, winner_model_b and winner_tie must be 1")
    battle = {k: record[k] for k in ("model_a", "model_b") if k in record}
    battle["winner"] = chosen[0]
    if record.get("id") not in (None, ""):
        battle["question_id"] = record["id"]
    if "prompt" in record:
        prompts = _text_list("prompt", record["prompt"])
        for side in ("a", "b"):
            replies = _text_list(f"response_{side}", record.get(f"response_{side}", "[]"))
            turns = []
            for k, prompt in enumerate(prompts):
                turns.append({"role": "user", "content": prompt})
                if k < len(replies):
                    turns.append({"role": "assistant", "content": replies[k]})
            battle[f"conversation_{side}"] = turns
        battle["turn"] = len(prompts)
    return battle


def _seconds(value, now: float | None) -> float:
    """`tstamp` (seconds since the epoch) or 140k's `timestamp` (a date-time, naive meaning UTC)."""
    if value is None:
        return time.time() if now is None else now
    if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"tstamp must be seconds since the epoch or an ISO date-time; got {value!r}") from exc
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        # Whole microseconds, exactly: no float arithmetic on the date.
        seconds = ((moment - EPOCH) // _MICROSECOND) / 1_000_000
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tstamp must be seconds since the epoch; got {value!r}") from exc
    if not 0 <= seconds < LATEST:
        raise ValueError(f"tstamp must be seconds since the epoch between 1970 and 3000; got {value!r}")
    return seconds


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH


def _judge(record: dict, hash_judge: Callable[[str], str]) -> str | None:
    judge = record.get("judge_hash")
    if judge not in (None, ""):
        judge = str(judge)
        # A longer key than we store is hashed down, never cut (cutting could merge voters).
        return hashlib.sha256(judge.encode()).hexdigest() if len(judge) > 64 else judge
    raw = record.get("judge")
    if raw in (None, ""):
        return None
    return hash_judge(str(raw))


def _derived_id(record: dict, judge: str | None, file_scope: str | None = None) -> str:
    """An id from the record's content (the occurrence number is added later, for repeats within a file). A raw
    `judge` enters as its keyed hash, so the id (public, in exports) cannot be used to guess it.

    A record with a time is one vote wherever it appears (a newer release of a battle file repeats the older
    one's records). A record with neither id nor time has nothing to tell it from the same record in another file:
    its id also names its file (`file_scope`, the file's sha256), so the same minimal records split over two files
    are all votes, while importing one file twice still adds nothing."""
    if "judge" in record and "judge_hash" not in record:
        record = {**record, "judge": judge}
    content = json.dumps(record, sort_keys=True, default=str)
    if file_scope is not None and record.get("tstamp") is None and record.get("timestamp") is None:
        content = f"{file_scope}\n{content}"
    digest = hashlib.sha256(content.encode()).hexdigest()[:32]
    return f"sha256:{digest}"


def parse_battle(
    record: dict, now: float | None = None, hash_judge: Callable[[str], str] = no_site_key,
    file_scope: str | None = None,
) -> StagedBattle:  # fmt: skip
    """Validate one record; raises ValueError naming the problem. Kept lean: it runs once per battle."""
    source = record
    if "winner" not in record and "winner_model_a" in record:
        record = from_kaggle(record)
    model_a, model_b, winner = record.get("model_a"), record.get("model_b"), record.get("winner")
    if model_a in (None, "") or model_b in (None, "") or winner in (None, ""):
        missing = [f for f in ("model_a", "model_b", "winner") if record.get(f) in (None, "")]
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    if not isinstance(model_a, str) or not isinstance(model_b, str):
        raise ValueError("model_a and model_b must be strings")
    model_a, model_b = model_a.strip(), model_b.strip()
    if not model_a or not model_b or len(model_a) > 200 or len(model_b) > 200:
        raise ValueError("model names must be 1 to 200 characters")
    if model_a == model_b:
        raise ValueError(f"model_a and model_b are the same model ({model_a!r})")
    outcome = WINNERS.get(winner) if isinstance(winner, str) else None
    if outcome is None:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}; got {winner!r}")

    stamp = record.get("tstamp")
    tstamp = _seconds(record.get("timestamp") if stamp is None else stamp, now)
    judge = _judge(record, hash_judge) if len(record) > 3 else None
    language = record.get("language")
    if language is not None and (not isinstance(language, str) or len(language) > 16):
        raise ValueError("language must be a short string such as 'English' or 'en'")

    meta = {f: record[f] for f in KEPT_FIELDS if record.get(f) is not None} if len(record) > 3 else {}
    prompt_text, emotions = None, []
    if meta:
        meta, prompt_text, emotions = _parse_meta(meta)
    conversation = conversation_plan(record, meta) if len(record) > 3 else None
    turns = 1
    if conversation is not None and conversation.mode == "shared":
        # `turn` as exported (the exchanges the voter saw); a file without it showed the whole conversation.
        turns = min(meta.get("turn") or conversation.exchanges, conversation.exchanges)

    question_id = record.get("question_id")
    if question_id in (None, ""):
        question_id = record.get("id")  # arena-human-preference-140k
    derived = question_id in (None, "")
    if derived:
        # No id given: one from the content, so importing the same file twice is still a no-op.
        question_id = _derived_id(source, judge, file_scope)
    elif not isinstance(question_id, str):
        question_id = str(question_id)
    if len(question_id) > 128:
        raise ValueError("question_id is longer than 128 characters")
    # An export carries each vote's standing; a plain battle file counts every vote.
    counts = record.get("counts_for_leaderboard", True)
    if isinstance(counts, str):
        counts = counts.strip().lower() in ("true", "1", "yes")
    if not isinstance(counts, bool):
        raise ValueError("counts_for_leaderboard must be true or false")
    reason = record.get("exclusion_reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        raise ValueError("exclusion_reason must be a string of at most 64 characters")
    tags = _reasons(record) if "reasons_a" in record or "reasons_b" in record else ()
    return StagedBattle(
        question_id, derived, model_a, model_b, outcome, tstamp, judge, language, prompt_text, emotions, meta,
        counts, reason, conversation, max(turns, 1), tags,
    )  # fmt: skip


def _reasons(record: dict) -> tuple[tuple[str, str], ...]:
    """reasons_a / reasons_b as the export writes them (a list, or JSON text in CSV and Parquet; empty or null for
    none), each tag checked against the fixed list."""
    tags: list[tuple[str, str]] = []
    for side in ("a", "b"):
        value = record.get(f"reasons_{side}")
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                raise ValueError(f"reasons_{side} is not a JSON list ({exc.msg})") from exc
        if value is None:
            continue
        if not isinstance(value, list):
            raise ValueError(f"reasons_{side} must be a list of reasons")
        for tag in value:
            if tag not in VOTE_REASONS:
                raise ValueError(f"reasons_{side}: {tag!r} is not one of {', '.join(VOTE_REASONS)}")
            if (side, tag) not in tags:
                tags.append((side, tag))
    return tuple(tags)


# Checked tag lists given as names, by their names: a file repeats the same few lists on every record.
_CHECKED_TAGS: dict[tuple, tuple[tuple[str, int], ...]] = {}


def _emotions(categories) -> list[dict]:
    key = tuple(categories) if isinstance(categories, list) else None
    tags = _CHECKED_TAGS.get(key) if key is not None and all(type(c) is str for c in key) else None
    if tags is None:
        try:
            tags = tuple(emotion_tags(categories))
        except CatalogError as exc:
            raise ValueError(f"category_tag.{EMOTION_TAG}: {exc}") from exc
        if key is not None and all(type(c) is str for c in key):
            if len(_CHECKED_TAGS) >= 10_000:
                _CHECKED_TAGS.clear()
            _CHECKED_TAGS[key] = tags
    return [{"name": c, "intensity": i} for c, i in tags]


def _parse_meta(meta: dict) -> tuple[dict, str | None, list]:
    # CSV cells and Parquet strings carry nested values as JSON text (meta holds a few of the fields: loop on it).
    for field in [f for f, v in meta.items() if f in JSON_FIELD_SET and isinstance(v, str)]:
        try:
            meta[field] = json.loads(meta[field])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{field} is not valid JSON ({exc.msg})") from exc
    for side in ("conversation_a", "conversation_b"):
        if side in meta:
            meta[side] = _flatten_parts(meta[side])
            _check_conversation(side, meta[side])
    for side in ("eq_a", "eq_b"):
        if side in meta:
            meta[side] = _eq_value(side, meta[side])
    # The conversation judge's scores and the pairwise judges' verdicts (an EQ Arena export's eq_conversation_a/_b,
    # judge_verdicts): kept as given.
    for field in ("conv_metadata", "category_tag", "eq_conversation_a", "eq_conversation_b", "judge_verdicts"):
        if field in meta and not isinstance(meta[field], dict):
            raise ValueError(f"{field} must be an object")
    if "anony" in meta:
        meta["anony"] = _flag("anony", meta["anony"])
    if "turn" in meta:
        turn = meta["turn"]
        if isinstance(turn, str) and turn.strip().isdigit():
            meta["turn"] = int(turn)
        elif isinstance(turn, bool) or not isinstance(turn, int):
            raise ValueError(f"turn must be a whole number; got {turn!r}")
    emotions: list = []
    emotion_tag = (meta.get("category_tag") or {}).get(EMOTION_TAG)
    if emotion_tag is not None:
        categories = emotion_tag.get("categories", []) if isinstance(emotion_tag, dict) else emotion_tag
        emotions = _emotions(categories)
    return meta, _first_user_turn(meta.get("conversation_a")), emotions
