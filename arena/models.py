"""Typed SQLAlchemy models. The schema itself comes only from the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

OUTCOMES = ("model_a", "model_b", "tie", "both_bad")
BATTLE_STATUSES = ("open", "voted", "expired")

# Stable constraint names so migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both backends: PostgreSQL stores timestamptz; SQLite stores naive UTC,
    which is re-tagged on the way out so comparisons never mix naive and aware values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Model(Base):
    """A contestant: a real model behind litellm, an imported name, or a demo persona."""

    __tablename__ = "model"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    litellm_model: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Provenance (arena.llm.registry.config_hash): sha256 of the canonical JSON of what is called (litellm string,
    # params, system prompt, samples); NULL for a model nothing here calls (imported names, demo personas). A new
    # configuration of a slug with replies or battles opens a new row (`variant_of_id` -> the row it replaced) and
    # retires this one, so no row ever carries the votes of two configurations.
    config_hash: Mapped[str | None] = mapped_column(String(64))
    variant_of_id: Mapped[int | None] = mapped_column(ForeignKey("model.id"))
    retired_at: Mapped[datetime | None] = mapped_column()


class Prompt(Base):
    """An emotional message shown to voters."""

    __tablename__ = "prompt"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    situation: Mapped[str | None] = mapped_column(String(100))
    need: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16), default="en")
    moderation_flags: Mapped[list[Any]] = mapped_column(default=list)
    # sha256 of the normalised text: the same message imported twice is one prompt.
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    # Only active prompts are drawn for battles (a visitor's own live message never is).
    active: Mapped[bool] = mapped_column(default=True)
    # The keyed hash of the visitor who wrote it (live battles), so they can delete it themselves.
    visitor_key: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    emotions: Mapped[list[PromptEmotion]] = relationship(
        back_populates="prompt", cascade="all, delete-orphan", order_by="PromptEmotion.intensity.desc()"
    )

    __table_args__ = (CheckConstraint("source IN ('demo','imported','curated','user')", name="source"),)


class PromptEmotion(Base):
    """An EmoNet category tag on a prompt; a row each so ratings can GROUP BY category."""

    __tablename__ = "prompt_emotion"

    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    intensity: Mapped[int] = mapped_column(SmallInteger, default=1)

    prompt: Mapped[Prompt] = relationship(back_populates="emotions")

    __table_args__ = (
        CheckConstraint("intensity BETWEEN 0 AND 2", name="intensity"),
        Index("ix_prompt_emotion_category", "category"),
    )


class Reply(Base):
    """One model's reply to one prompt; `arena generate --samples N` keeps up to N of them (samples 0..N-1)."""

    __tablename__ = "reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id"))
    # Which of the pair's replies this is: several per pair make a reply-to-model dictionary, learned from the
    # reveals, costlier to complete.
    sample: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    text: Mapped[str] = mapped_column(Text)
    litellm_model: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The configuration hash of the model row it was generated for (when a fallback answered, its metadata says
    # so); NULL for imported replies and replies generated before provenance was kept.
    config_hash: Mapped[str | None] = mapped_column(String(64))
    # An edit (`arena generate edits`, arena/llm/editing.py): the reply an editor model rewrote to change one EI
    # dimension, and that dimension. An edit keeps its original's prompt and model, takes a negative sample number
    # (never one of the pair's samples), is never drawn as the model's reply and never counts for the model.
    edit_of: Mapped[int | None] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    edit_dimension: Mapped[str | None] = mapped_column(String(64))

    prompt: Mapped[Prompt] = relationship()
    model: Mapped[Model] = relationship()
    # An imported multi-turn transcript that this reply opens (EQ-Bench 4 with --turns all).
    transcript: Mapped[Conversation | None] = relationship(foreign_keys="Conversation.reply_id", uselist=False,
                                                           viewonly=True)  # fmt: skip

    __table_args__ = (
        UniqueConstraint("prompt_id", "model_id", "sample", name="uq_reply_prompt_model_sample"),
        Index("ix_reply_model_prompt", "model_id", "prompt_id"),
        CheckConstraint("(edit_of IS NULL) = (edit_dimension IS NULL)", name="edit"),
        # One edit per original and dimension: a rerun of `arena generate edits` skips what is stored.
        Index("uq_reply_edit_of_dimension", "edit_of", "edit_dimension", unique=True),
    )


class Battle(Base):
    """Two replies to one prompt, shown anonymously as A and B."""

    __tablename__ = "battle"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random and unguessable for battles shown here (the URL carries it signed, see
    # arena.voting.battle_ids); the file's question_id for imported ones. Exported as question_id.
    public_id: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="arena")
    language: Mapped[str | None] = mapped_column(String(16))
    # What an imported battle carried beyond the outcome (conversations, conv_metadata, category_tag,
    # eq_a/eq_b, ...), kept as given.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"), index=True)
    reply_a_id: Mapped[int | None] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    reply_b_id: Mapped[int | None] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    # Denormalised from the replies so aggregation never needs to join through them.
    model_a_id: Mapped[int] = mapped_column(ForeignKey("model.id"))
    model_b_id: Mapped[int] = mapped_column(ForeignKey("model.id"))
    judge_key: Mapped[str | None] = mapped_column(String(64), index=True)
    sampling_prob: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    # Randomised presentation arms (arena/voting/arms.py): the arm each side was shown under (NULL: the reply as
    # stored) and the probability that side was given it (NULL: drawn with no arms declared).
    arm_a: Mapped[str | None] = mapped_column(String(32))
    arm_b: Mapped[str | None] = mapped_column(String(32))
    arm_a_prob: Mapped[float | None] = mapped_column(Float)
    arm_b_prob: Mapped[float | None] = mapped_column(Float)

    prompt: Mapped[Prompt | None] = relationship()
    reply_a: Mapped[Reply | None] = relationship(foreign_keys=[reply_a_id])
    reply_b: Mapped[Reply | None] = relationship(foreign_keys=[reply_b_id])
    model_a: Mapped[Model] = relationship(foreign_keys=[model_a_id])
    model_b: Mapped[Model] = relationship(foreign_keys=[model_b_id])
    vote: Mapped[Vote | None] = relationship(back_populates="battle", uselist=False)
    # Set for a multi-turn battle (and an imported one that named its session); a single-turn battle has none.
    conversation: Mapped[Conversation | None] = relationship(
        foreign_keys="Conversation.battle_id", back_populates="battle", uselist=False
    )

    __table_args__ = (
        CheckConstraint("status IN ('open','voted','expired')", name="status"),
        # 'edit': a reply against its own edit (ARENA_EDIT_SHARE), the one battle whose sides are the same model;
        # its vote never counts for a model (arena.voting.moderation.EDIT).
        CheckConstraint("source IN ('arena','import','live','edit')", name="source"),
        CheckConstraint("model_a_id <> model_b_id OR source = 'edit'", name="distinct_models"),
        # First/last seen and sampling share per model (arena.jobs.provenance) read these, not the whole table.
        Index("ix_battle_model_a_created", "model_a_id", "created_at"),
        Index("ix_battle_model_b_created", "model_b_id", "created_at"),
    )


class Vote(Base):
    """The single verdict on a battle. UNIQUE(battle_id) is the last line of one-vote-per-battle."""

    __tablename__ = "vote"

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[int] = mapped_column(ForeignKey("battle.id", ondelete="CASCADE"), unique=True)
    # Copies of the battle's (immutable) models, so the recompute's GROUP BY reads one covering index and
    # never joins. The battle's foreign keys already guard them.
    model_a_id: Mapped[int] = mapped_column(Integer)
    model_b_id: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dwell_ms: Mapped[int | None] = mapped_column(Integer)
    counts_for_leaderboard: Mapped[bool] = mapped_column(default=True)
    exclusion_reason: Mapped[str | None] = mapped_column(String(64))
    # Set when an admin re-includes the vote (the quality filters leave it counted from then on), or when its voter
    # pays the proof-of-work after casting it `unverified` (set to the proof's solved_at; still judged by the
    # filters: arena.voting.moderation.reincluded_by_admin tells the two apart).
    reincluded_at: Mapped[datetime | None] = mapped_column()
    # Who voted (always the key the battle was shown to) and the keyed hash of their network (/24 or /48), so
    # the filters can judge networks and cohorts; NULL for imported votes and votes from before both were kept.
    voter_key: Mapped[str | None] = mapped_column(String(64))
    network_hash: Mapped[str | None] = mapped_column(String(64))
    # How many exchanges (the person's messages, each with both answers) the voter had seen: 1 for a single turn.
    turns: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    battle: Mapped[Battle] = relationship(back_populates="vote")

    __table_args__ = (
        CheckConstraint("outcome IN ('model_a','model_b','tie','both_bad')", name="outcome"),
        Index("ix_vote_counted_pair_outcome", "counts_for_leaderboard", "model_a_id", "model_b_id", "outcome"),
        # The emotion boards' per-vote read, joined to battle for the prompt: covered, in battle id order.
        Index(
            "ix_vote_counted_battle_pair_outcome",
            "counts_for_leaderboard",
            "battle_id",
            "model_a_id",
            "model_b_id",
            "outcome",
        ),
    )


# The reasons a voter may tap after the vote, per side (arena/voting/reasons.py says them in words).
VOTE_REASONS = ("felt_heard", "practical_help", "too_long", "preachy", "cold", "flattering", "unsafe")
REASON_SIDES = ("a", "b")


class VoteReason(Base):
    """One optional tag of a vote: why the voter liked or disliked one side. Never a battle of its own and never
    part of the board; a mediator in the EQ study (arena/jobs/vote_reasons.py)."""

    __tablename__ = "vote_reason"

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("vote.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(1))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("side IN ('a','b')", name="side"),
        CheckConstraint(
            "reason IN ('felt_heard','practical_help','too_long','preachy','cold','flattering','unsafe')", name="reason"
        ),
        UniqueConstraint("vote_id", "side", "reason", name="uq_vote_reason_key"),
    )


class VoteCount(Base):
    """Counted votes per (board, model_a, model_b, outcome), kept by arena/vote_counts.py for the votes up
    to VoteCountMark.last_vote_id, so the recompute reads cells instead of grouping every vote. `board` is
    'overall' or an EmoNet group or category."""

    __tablename__ = "vote_count"

    board: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_a_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_b_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class VoteCountMark(Base):
    """One row (id 1): the largest vote id folded into vote_count; votes above it are folded in by the next
    recompute or import."""

    __tablename__ = "vote_count_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_vote_id: Mapped[int] = mapped_column(BigInteger)


CONVERSATION_MODES = ("single", "shared", "transcript")
TURN_SIDES = ("a", "b", "both", "own")


class Conversation(Base):
    """The turns behind a battle, or one model's own imported transcript (owned by the reply that is its first
    answer; a transcript battle pairs two such replies and reads the turns from them).

    mode: 'shared' (the same person's messages went to both models, each saw only its own earlier replies: live
    battles, LMArena), 'transcript' (each model talked with its own copy of a simulated person: EQ-Bench 4),
    'single' (one exchange, kept only to carry an imported evaluation session). Evaluation session and order
    follow LMArena: the battles one visitor voted on in one sitting, numbered from 1."""

    __tablename__ = "conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[int | None] = mapped_column(ForeignKey("battle.id", ondelete="CASCADE"), unique=True)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"), unique=True)
    mode: Mapped[str] = mapped_column(String(16))
    # The imported scenario's id (EQ-Bench 4 scenario_id), so transcripts of one scenario can be paired.
    scenario: Mapped[str | None] = mapped_column(String(200))
    evaluation_session: Mapped[str | None] = mapped_column(String(128))
    evaluation_order: Mapped[int | None] = mapped_column(Integer)
    # Imported context kept as given: the persona's initial state, the published judge scores, final status.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    battle: Mapped[Battle | None] = relationship(foreign_keys=[battle_id], back_populates="conversation")
    reply: Mapped[Reply | None] = relationship(foreign_keys=[reply_id])
    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="[Turn.idx, Turn.role.desc(), Turn.side]"
    )

    __table_args__ = (
        CheckConstraint("mode IN ('single','shared','transcript')", name="mode"),
        CheckConstraint("(battle_id IS NULL) <> (reply_id IS NULL)", name="one_owner"),
        Index("ix_conversation_session_order", "evaluation_session", "evaluation_order"),
    )


class Turn(Base):
    """One message of a conversation. `idx` numbers the exchanges from 0: exchange k is the person's k-th message
    and the answer(s) to it, so every conversation's first exchange is its battle's prompt and replies.

    side: 'both' (a message both models received: a visitor's, in a shared conversation), 'a' / 'b' (one side's
    own: its answers, or its own simulated person's messages in a transcript battle), 'own' (a transcript
    owned by one reply, before any battle pairs it). author: 'visitor', 'persona' (a simulated person), 'model'."""

    __tablename__ = "turn"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(4))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id"))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    # The simulated person's emotional state after this message, where the source records one.
    persona_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What else the source kept (a persona's hidden thinking, which the model never saw).
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="turns")
    model: Mapped[Model | None] = relationship()

    __table_args__ = (
        CheckConstraint("side IN ('a','b','both','own')", name="side"),
        CheckConstraint("role IN ('user','assistant')", name="role"),
        CheckConstraint("author IN ('visitor','persona','model')", name="author"),
        CheckConstraint("idx >= 0", name="idx"),
        UniqueConstraint("conversation_id", "idx", "side", "role", name="uq_turn_conversation_id"),
    )


class RatingRun(Base):
    """One immutable rating snapshot: written once, in one transaction, never updated."""

    __tablename__ = "rating_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer)
    code_version: Mapped[str] = mapped_column(String(64))
    n_votes: Mapped[int] = mapped_column(Integer)
    # What the run found beyond per-model ratings: tie propensity, position bias, pooling per board, components.
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ratings: Mapped[list[Rating]] = relationship(back_populates="run", order_by="Rating.rating.desc()")


class BoardMatrices(Base):
    """One board of a rating run: the model order, the pairwise battle and win-rate matrices (for the charts), the
    rank intervals and the votes to flip. A row per board, not a column of the run: at 200 models and 48 boards
    the run's matrices are 46 MB of JSON, which a page showing one board must not read and parse."""

    __tablename__ = "board_matrices"

    run_id: Mapped[int] = mapped_column(ForeignKey("rating_run.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(80), primary_key=True)
    matrices: Mapped[dict[str, Any]] = mapped_column()


class Rating(Base):
    """A model's score in one category of one rating run."""

    __tablename__ = "rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("rating_run.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(80))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id"))
    rating: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float] = mapped_column(Float)
    ci_high: Mapped[float] = mapped_column(Float)
    rank_ub: Mapped[int] = mapped_column(Integer)
    battles: Mapped[int] = mapped_column(Integer)
    wins: Mapped[float] = mapped_column(Float)
    ties: Mapped[float] = mapped_column(Float)
    win_rate: Mapped[float | None] = mapped_column(Float)
    # Connected component of the comparison graph (0: the largest); ratings compare within one component only.
    component: Mapped[int | None] = mapped_column(Integer)
    # Pooled boards: the weight of the other votes' rating in this one (0: all its own votes, 1: all borrowed).
    borrowed: Mapped[float | None] = mapped_column(Float)
    # Share of the model's battles voted "both bad", with its 95% interval.
    both_bad_share: Mapped[float | None] = mapped_column(Float)
    both_bad_low: Mapped[float | None] = mapped_column(Float)
    both_bad_high: Mapped[float | None] = mapped_column(Float)

    run: Mapped[RatingRun] = relationship(back_populates="ratings")
    model: Mapped[Model] = relationship()

    __table_args__ = (UniqueConstraint("run_id", "category", "model_id", name="uq_rating_run_category_model"),)


class PairWeight(Base):
    """Active sampling: the probability with which the pairing service draws each pair of models, computed by a
    rating run from its snapshot (the web path only reads these rows)."""

    __tablename__ = "pair_weight"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("rating_run.id", ondelete="CASCADE"))
    model_low_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    model_high_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("run_id", "model_low_id", "model_high_id", name="uq_pair_weight_run_pair"),)


class ModelAlias(Base):
    """Another name for a model (as external benchmarks spell it), so "openai/gpt-4.1" meets "gpt-4.1"."""

    __tablename__ = "model_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (see arena.ingest.eq_scores.normalise_name).
    alias: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))

    model: Mapped[Model] = relationship()


class ModelEqScore(Base):
    """A model-level EQ score from an external benchmark snapshot (e.g. EQ-Bench 3 Elo). Kept by the name the
    benchmark uses; matched to arena models at analysis time. Snapshots are never mixed in one analysis."""

    __tablename__ = "model_eq_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    benchmark: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("benchmark", "snapshot", "model_name", name="uq_model_eq_score_entry"),)


class ReplyFeature(Base):
    """Style and EQ-style features of one reply's text, for one version of the feature set."""

    __tablename__ = "reply_feature"

    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column()


class BattleReplyFeature(Base):
    """Features of an imported battle's reply (side 'a' or 'b'), which has no Reply row of its own."""

    __tablename__ = "battle_reply_feature"

    battle_id: Mapped[int] = mapped_column(ForeignKey("battle.id", ondelete="CASCADE"), primary_key=True)
    side: Mapped[str] = mapped_column(String(1), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column()

    __table_args__ = (CheckConstraint("side IN ('a','b')", name="side"),)


class EqScore(Base):
    """A reply-level EQ rubric score (0-10) by a judge model, per criterion ('overall' among them)."""

    __tablename__ = "eq_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    judge: Mapped[str] = mapped_column(String(200))
    criterion: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("reply_id", "judge", "criterion", name="uq_eq_score_reply_judge_criterion"),)


class ConversationScore(Base):
    """An EQ rubric score (0-10) of one side of a conversation by a judge model: per answer (scope 'turn', the
    exchange it answers, from 0) and for the whole conversation (scope 'conversation', exchange = the last one
    judged). A shared conversation is scored per battle side ('a' / 'b', on the battle's conversation row); an
    imported transcript once, on the reply's own conversation (side 'own'), whichever battles pair it."""

    __tablename__ = "conversation_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(4))
    judge: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    exchange: Mapped[int] = mapped_column(Integer)
    criterion: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("side IN ('a','b','own')", name="side"),
        CheckConstraint("scope IN ('turn','conversation')", name="scope"),
        CheckConstraint("exchange >= 0", name="exchange"),
        UniqueConstraint(
            "conversation_id", "side", "judge", "scope", "exchange", "criterion", name="uq_conversation_score_key"
        ),  # fmt: skip
    )


class ConversationJudgeError(Base):
    """The last failure of a judge model to score one side of a conversation; removed when a later attempt
    succeeds (JudgeError's counterpart)."""

    __tablename__ = "conversation_judge_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(4))
    judge: Mapped[str] = mapped_column(String(200))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("conversation_id", "side", "judge", name="uq_conversation_judge_error_key"),)


class JudgeVerdict(Base):
    """A judge model's pairwise verdict on two replies by different models to the same message, in the order it
    was shown them: `reply_first_id` shown as A, `reply_second_id` as B. `shown_order` is 'ab' when the lower reply id
    was shown first, 'ba' when swapped; every pair is asked both ways. `verdict`: 'A', 'B' or 'tie' as the judge
    answered (the shown position); `raw` its whole answer."""

    __tablename__ = "judge_verdict"

    id: Mapped[int] = mapped_column(primary_key=True)
    judge: Mapped[str] = mapped_column(String(200))
    reply_first_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    reply_second_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    shown_order: Mapped[str] = mapped_column(String(2))
    verdict: Mapped[str] = mapped_column(String(4))
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("judge", "reply_first_id", "reply_second_id", name="uq_judge_verdict_key"),
        CheckConstraint("shown_order IN ('ab','ba')", name="shown_order"),
        CheckConstraint("verdict IN ('A','B','tie')", name="verdict"),
        CheckConstraint("reply_first_id <> reply_second_id", name="two_replies"),
    )


class JudgeVerdictError(Base):
    """The last failure of a judge model to give both verdicts on a pair of replies (`reply_low_id` <
    `reply_high_id`); removed when a later attempt succeeds (JudgeError's counterpart)."""

    __tablename__ = "judge_verdict_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    judge: Mapped[str] = mapped_column(String(200))
    reply_low_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    reply_high_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("judge", "reply_low_id", "reply_high_id", name="uq_judge_verdict_error_key"),)


class AnalysisRun(Base):
    """One EQ analysis of one rating run: coefficients, correlations and controlled ratings, as computed."""

    __tablename__ = "analysis_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_run_id: Mapped[int] = mapped_column(ForeignKey("rating_run.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    feature_version: Mapped[str] = mapped_column(String(40))
    code_version: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The whole `arena analysis eq --json` object, so the page and the export show exactly what was computed.
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ImportedFile(Base):
    """One file brought in by `arena import votes|replies`: what a dataset card cites. Written in the import's
    own transaction, so a failed import leaves no row."""

    __tablename__ = "imported_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    # Records read (valid or not) and rows written (battles, or replies).
    rows: Mapped[int] = mapped_column(Integer)
    imported: Mapped[int] = mapped_column(Integer)
    # `--source TEXT`: a citation, a licence, where the file came from.
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What else the card reports: how many records said `anony` true, false, or nothing; invalid rows skipped.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    __table_args__ = (CheckConstraint("kind IN ('votes','replies')", name="kind"),)


class TermsAcceptance(Base):
    """A visitor (keyed hash of the session) accepted a version of the terms before voting."""

    __tablename__ = "terms_acceptance"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("visitor_key", "version", name="uq_terms_acceptance_visitor_version"),)


class VisitorProof(Base):
    """A visitor (keyed hash) solved the proof-of-work once: from then on their votes count (by the other rules)."""

    __tablename__ = "visitor_proof"

    visitor_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    solved_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminSession(Base):
    """A logged-in admin browser session (the SHA-256 of its random nonce, never the nonce): logging out deletes
    the row, so a copy of the cookie taken before then no longer works; expired rows go at the next login."""

    __tablename__ = "admin_session"

    nonce_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class RetiredVisitorKey(Base):
    """A visitor key deleted under privacy: a browser still carrying it gets a new identity, never this one."""

    __tablename__ = "retired_visitor_key"

    # SHA-256 of the key, not the key: recognises the stale browser, links nothing to old exports' judge_hash.
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    retired_at: Mapped[datetime] = mapped_column(default=utcnow)


class GenerationError(Base):
    """The last failure to generate a (prompt, model) reply; removed when a later attempt succeeds."""

    __tablename__ = "generation_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("prompt_id", "model_id", name="uq_generation_error_prompt_model"),)


class EditError(Base):
    """The last failure to edit a reply on one dimension (a failed call, or an edit refused by the checks: length
    outside 5%, formatting changed); removed when a later attempt stores the edit."""

    __tablename__ = "edit_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(64))
    editor: Mapped[str] = mapped_column(String(200))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("reply_id", "dimension", name="uq_edit_error_reply_dimension"),)


class JudgeError(Base):
    """The last failure of a judge model to score a reply; removed when a later attempt succeeds."""

    __tablename__ = "judge_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("reply.id", ondelete="CASCADE"))
    judge: Mapped[str] = mapped_column(String(200))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("reply_id", "judge", name="uq_judge_error_reply_judge"),)


JOB_KINDS = ("recompute", "generate", "judge", "export")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "skipped")


class JobRun(Base):
    """One job (a recompute, generation, judging or export) from when it was queued to its end: every attempt
    counted, each failed or lost attempt's error kept. The queue (RQ on Redis, or the site's own thread) runs
    it; this row is what `arena jobs list` shows on any deployment."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The job's options (what `arena jobs enqueue KIND ...` was given), and why it was queued ('command',
    # 'votes', 'time').
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(String(16), default="command")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    # [{"attempt": n, "at": iso time, "error": "..."}], one per failed or lost attempt.
    errors: Mapped[list[Any]] = mapped_column(default=list)
    # The queue's id for it (RQ's job id), and the worker running the current attempt (host:pid).
    queue_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # What it did: the rating run it stored, replies written, files exported.
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        CheckConstraint("kind IN ('recompute','generate','judge','export')", name="kind"),
        CheckConstraint("status IN ('queued','running','succeeded','failed','skipped')", name="status"),
        Index("ix_job_run_kind_status", "kind", "status"),
    )
