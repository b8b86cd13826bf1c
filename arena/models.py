"""Typed SQLAlchemy models. The schema itself comes only from the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
    """One model's reply to one prompt."""

    __tablename__ = "reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id"))
    text: Mapped[str] = mapped_column(Text)
    litellm_model: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    prompt: Mapped[Prompt] = relationship()
    model: Mapped[Model] = relationship()

    __table_args__ = (
        UniqueConstraint("prompt_id", "model_id", name="uq_reply_prompt_model"),
        Index("ix_reply_model_prompt", "model_id", "prompt_id"),
    )


class Battle(Base):
    """Two replies to one prompt, shown anonymously as A and B."""

    __tablename__ = "battle"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random and unguessable for battles shown here (the URL carries it signed, see
    # arena.services.battle_ids); the file's question_id for imported ones. Exported as question_id.
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

    prompt: Mapped[Prompt | None] = relationship()
    reply_a: Mapped[Reply | None] = relationship(foreign_keys=[reply_a_id])
    reply_b: Mapped[Reply | None] = relationship(foreign_keys=[reply_b_id])
    model_a: Mapped[Model] = relationship(foreign_keys=[model_a_id])
    model_b: Mapped[Model] = relationship(foreign_keys=[model_b_id])
    vote: Mapped[Vote | None] = relationship(back_populates="battle", uselist=False)

    __table_args__ = (
        CheckConstraint("status IN ('open','voted','expired')", name="status"),
        CheckConstraint("source IN ('arena','import','live')", name="source"),
        CheckConstraint("model_a_id <> model_b_id", name="distinct_models"),
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

    battle: Mapped[Battle] = relationship(back_populates="vote")

    __table_args__ = (
        CheckConstraint("outcome IN ('model_a','model_b','tie','both_bad')", name="outcome"),
        Index("ix_vote_counted_pair_outcome", "counts_for_leaderboard", "model_a_id", "model_b_id", "outcome"),
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
    # Per category: the model order and the pairwise battle and win-rate matrices, for the charts.
    matrices: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ratings: Mapped[list[Rating]] = relationship(back_populates="run", order_by="Rating.rating.desc()")


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

    run: Mapped[RatingRun] = relationship(back_populates="ratings")
    model: Mapped[Model] = relationship()

    __table_args__ = (UniqueConstraint("run_id", "category", "model_id", name="uq_rating_run_category_model"),)
