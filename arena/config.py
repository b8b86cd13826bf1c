"""Settings, read once from ARENA_* environment variables into one dataclass."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

# The repository root holds templates/ and static/ beside the packages (DESIGN §2).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    """Where the default SQLite database and the demo's secret live (ARENA_INSTANCE_PATH overrides)."""
    return Path(os.environ.get("ARENA_INSTANCE_PATH") or PROJECT_ROOT / "instance")


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_number(name: str, default, kind=int, what: str = "a whole number"):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {value!r}") from exc


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


# terms_acceptance.version is a VARCHAR(32).
TERMS_VERSION_MAX = 32
# A challenge's counter fits the widget's uint32; beyond ten million a phone would pass its 90 s timeout.
MIN_POW_DIFFICULTY, MAX_POW_DIFFICULTY = 2, 10_000_000
# Each exchange resends the whole conversation: beyond twenty a call's context (and a phone's scroll) outgrows what
# one visitor's contest is for.
MAX_LIVE_TURNS = 20
# Repeated battles: the site's default share, and the most allowed (the bound: repeats are votes that
# never count, so every one spends a visitor's time on the agreement study instead of the board).
DEFAULT_REPEAT_SHARE = 0.02
MAX_REPEAT_SHARE = 0.02
# Battles of a reply against its edit: off unless the operator asks (they never count on a board, so every one
# spends a visitor's vote on the edits study); at most a fifth of battles, so the board keeps most votes.
MAX_EDIT_SHARE = 0.2
# One plain address, so the privacy page can put it in a mailto: link as it is.
CONTACT_EMAIL = re.compile(r"[^@\s<>\"'()]+@[^@\s<>\"'()]+\.[A-Za-z]{2,}")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


# The weakest secrets a production site starts with: the secret keys sessions, battle ids and every keyed hash; the
# admin token is a password that anyone may guess at (5 a minute per network). Both are checked for length, for
# variety (distinct characters) and against a short pattern repeated, which is all a start-up check can say.
SECRET_KEY_MIN_CHARS, ADMIN_TOKEN_MIN_CHARS = 32, 24
SECRET_MIN_DISTINCT = 10
GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def weakness(value: str, min_chars: int) -> str | None:
    """Why `value` is too weak to be a secret, or None."""
    if len(value) < min_chars:
        return f"is {len(value)} characters long; it needs at least {min_chars}"
    if len(set(value)) < SECRET_MIN_DISTINCT:
        return f"has only {len(set(value))} different characters; it needs at least {SECRET_MIN_DISTINCT}"
    for period in range(1, min(16, len(value) // 2) + 1):
        if all(value[i] == value[i % period] for i in range(len(value))):
            return f"repeats a pattern of {period} characters"
    return None


def default_database_url() -> str:
    return f"sqlite:///{instance_path() / 'arena.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    secret_key: str | None = None
    redis_url: str | None = None
    rate_limit_enabled: bool = True
    admin_token: str | None = None
    # How long a shown battle may still be voted on.
    battle_ttl_seconds: int = 6 * 3600
    # Per visitor (session key) and per network (truncated IP, keyed hash): flask-limiter notation.
    rate_limit_battle: str = "60 per minute"
    rate_limit_vote: str = "30 per minute"
    rate_limit_network: str = "600 per minute"
    # New visitor identities a network (the hashed /24 or /48) may be given per hour: every per-visitor defence
    # is only as strong as the cost of a new visitor.
    new_visitors_per_network_hour: int = 30
    # A vote cast sooner than this after the battle appeared is kept but does not count (nobody reads two
    # replies that fast).
    min_dwell_ms: int = 2000
    # The recompute job's vote-quality filters (arena/jobs/vote_filters.py): votes per visitor and UTC day
    # that count, the votes a voter needs before being judged at all, and each rule's false-flag rate.
    daily_vote_cap: int = 500
    filter_min_votes: int = 30
    filter_alpha: float = 0.01
    # A model row opened by a change of its configuration (litellm string, parameters, system prompt, samples)
    # stays provisional on the board until this many fresh votes are counted for it.
    provisional_votes: int = 300
    # How battles pick their pair of models: "uniform", or "active" (the pair weights the latest rating run stored:
    # pairs whose votes would shrink the intervals most, every eligible pair kept possible).
    sampling: str = "uniform"
    # The share of battles (at most MAX_REPEAT_SHARE) that show a pair of replies already voted on again, sides
    # swapped, to the same visitor or another: how far people agree (arena/voting/repeats.py). Never counted.
    # The site's default is 0.02 (from_env); 0 here, so embedders and tests draw only fresh battles unless asked.
    repeat_share: float = 0.0
    # Randomised presentation arms (arena/voting/arms.py): "name:probability" pairs separated by commas, e.g.
    # "plain_text:0.1,no_helpline:0.1,length_matched:0.1"; empty: none, and nothing about a battle changes. And
    # whether battles with an arm applied count on the model board too (by default they are left out of it).
    arms: str = ""
    arms_on_board: bool = False
    # The share of battles (at most MAX_EDIT_SHARE; default 0, off) that show a stored reply against its edit (`arena
    # generate edits`), to measure the edited dimension's effect (arena/voting/edits.py). Never counted on a board.
    edit_share: float = 0.0
    # Proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    proxy_hops: int = 0
    # The terms a visitor accepts once before their first vote; a new version asks everyone again.
    terms_version: str = "2026-11"
    # Off only for tests (and embedders) that vote without the terms step; the site always asks.
    require_terms: bool = True
    # The proof-of-work a browser solves once, with the terms, before its votes count (arena/voting/proof_of_work.py):
    # the most key derivations a challenge can take (the answer is uniform over [0, D): a browser needs half of it
    # on average, 3,000 at the default, as 4,000 with the answer in [D/2, D) once needed), and
    # whether votes of a visitor who never solved one (no JavaScript) count all the same.
    pow_difficulty: int = 6_000
    count_unverified: bool = False
    # Live battles ("write your own"): the longest message, how long a model may take before the visitor is
    # told it failed, and how many a visitor may start (each one costs two paid model calls).
    live_max_chars: int = 2000
    live_timeout_seconds: int = 60
    # Exchanges one live conversation may hold (the visitor's messages, each answered by both models); every
    # exchange resends the whole conversation, so this also bounds what one call costs.
    live_max_turns: int = 5
    rate_limit_live: str = "10 per minute"
    # Per network (hashed /24 or /48): fresh cookies must not multiply a visitor's live battles.
    rate_limit_live_network: str = "20 per minute"
    # Admin login attempts per network.
    rate_limit_admin_login: str = "5 per minute"
    # Open live streams one worker may hold (0: half its threads, known from arena.gunicorn_conf; else 4), and
    # across every worker and host; the day's live spending in USD, overall and per network (None: no budget;
    # the per-network budget defaults to a tenth of the overall one).
    live_streams_per_worker: int = 0
    live_max_concurrent: int = 32
    live_daily_budget_usd: float | None = None
    live_network_daily_budget_usd: float | None = None
    # A litellm moderation model (e.g. openai/omni-moderation-latest) screening live messages after the keyword
    # screen; its API base and the NAME of the environment variable holding its key (the key is read at call time).
    moderation_model: str | None = None
    moderation_api_base: str | None = None
    moderation_api_key_env: str | None = None
    # Request bodies larger than this are refused with 413.
    max_body_bytes: int = 64 * 1024
    # Where visitors write to have their data deleted when they no longer have the browser (privacy page).
    contact_email: str | None = None
    # Who runs the jobs (arena/queue/): "queue" (RQ on ARENA_REDIS_URL; `arena worker` runs them), "inline"
    # (a thread of the site process itself, as `arena demo` does), or "off" (an operator runs the commands).
    # Settings.from_env picks "queue" when Redis is configured, else "off"; `arena demo` and `arena serve` pick
    # "inline" without Redis.
    jobs: str = "off"
    # A recompute is queued when this many votes arrived since the last one, or this many seconds passed since
    # it and any vote arrived (0: that trigger off).
    recompute_every_votes: int = 100
    recompute_every_seconds: int = 600
    # Bootstrap rounds of the recomputes the schedule queues.
    recompute_rounds: int = 1000
    # Demo and tests may run without a configured secret; production may not.
    require_secret: bool = True
    testing: bool = False

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        settings = cls(
            database_url=os.environ.get("ARENA_DATABASE_URL") or default_database_url(),
            secret_key=os.environ.get("ARENA_SECRET_KEY") or None,
            redis_url=os.environ.get("ARENA_REDIS_URL") or None,
            rate_limit_enabled=_env_bool("ARENA_RATE_LIMIT_ENABLED", True),
            admin_token=os.environ.get("ARENA_ADMIN_TOKEN") or None,
            battle_ttl_seconds=_env_int("ARENA_BATTLE_TTL_SECONDS", 6 * 3600),
            rate_limit_battle=os.environ.get("ARENA_RATE_LIMIT_BATTLE") or cls.rate_limit_battle,
            rate_limit_vote=os.environ.get("ARENA_RATE_LIMIT_VOTE") or cls.rate_limit_vote,
            rate_limit_network=os.environ.get("ARENA_RATE_LIMIT_NETWORK") or cls.rate_limit_network,
            new_visitors_per_network_hour=_env_int(
                "ARENA_NEW_VISITORS_PER_NETWORK_HOUR", cls.new_visitors_per_network_hour
            ),
            proxy_hops=_env_int("ARENA_PROXY_HOPS", 0),
            min_dwell_ms=_env_int("ARENA_MIN_DWELL_MS", 2000),
            terms_version=os.environ.get("ARENA_TERMS_VERSION") or cls.terms_version,
            pow_difficulty=_env_int("ARENA_POW_DIFFICULTY", cls.pow_difficulty),
            count_unverified=_env_bool("ARENA_COUNT_UNVERIFIED", cls.count_unverified),
            live_max_chars=_env_int("ARENA_LIVE_MAX_CHARS", cls.live_max_chars),
            live_timeout_seconds=_env_int("ARENA_LIVE_TIMEOUT_SECONDS", cls.live_timeout_seconds),
            live_max_turns=_env_int("ARENA_LIVE_MAX_TURNS", cls.live_max_turns),
            rate_limit_live=os.environ.get("ARENA_RATE_LIMIT_LIVE") or cls.rate_limit_live,
            rate_limit_live_network=os.environ.get("ARENA_RATE_LIMIT_LIVE_NETWORK") or cls.rate_limit_live_network,
            rate_limit_admin_login=os.environ.get("ARENA_RATE_LIMIT_ADMIN_LOGIN") or cls.rate_limit_admin_login,
            live_streams_per_worker=_env_int("ARENA_LIVE_STREAMS_PER_WORKER", cls.live_streams_per_worker),
            live_max_concurrent=_env_int("ARENA_LIVE_MAX_CONCURRENT", cls.live_max_concurrent),
            live_daily_budget_usd=_env_float("ARENA_LIVE_DAILY_BUDGET_USD", None),
            live_network_daily_budget_usd=_env_float("ARENA_LIVE_NETWORK_DAILY_BUDGET_USD", None),
            moderation_model=os.environ.get("ARENA_MODERATION_MODEL") or None,
            moderation_api_base=os.environ.get("ARENA_MODERATION_API_BASE") or None,
            moderation_api_key_env=os.environ.get("ARENA_MODERATION_API_KEY_ENV") or None,
            daily_vote_cap=_env_int("ARENA_DAILY_VOTE_CAP", cls.daily_vote_cap),
            filter_min_votes=_env_int("ARENA_FILTER_MIN_VOTES", cls.filter_min_votes),
            filter_alpha=_env_float("ARENA_FILTER_ALPHA", cls.filter_alpha),
            provisional_votes=_env_int("ARENA_PROVISIONAL_VOTES", cls.provisional_votes),
            sampling=os.environ.get("ARENA_SAMPLING", cls.sampling).strip().lower() or cls.sampling,
            repeat_share=_env_float("ARENA_REPEAT_SHARE", DEFAULT_REPEAT_SHARE),
            arms=(os.environ.get("ARENA_ARMS") or "").strip(),
            arms_on_board=_env_bool("ARENA_ARMS_ON_BOARD", cls.arms_on_board),
            edit_share=_env_float("ARENA_EDIT_SHARE", cls.edit_share),
            max_body_bytes=_env_int("ARENA_MAX_BODY_BYTES", cls.max_body_bytes),
            contact_email=(os.environ.get("ARENA_CONTACT_EMAIL") or "").strip() or None,
            jobs=(os.environ.get("ARENA_JOBS") or "").strip().lower()
            or ("queue" if os.environ.get("ARENA_REDIS_URL") else "off"),
            recompute_every_votes=_env_int("ARENA_RECOMPUTE_EVERY_VOTES", cls.recompute_every_votes),
            recompute_every_seconds=_env_int("ARENA_RECOMPUTE_EVERY_SECONDS", cls.recompute_every_seconds),
            recompute_rounds=_env_int("ARENA_RECOMPUTE_BOOTSTRAP", cls.recompute_rounds),
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def validated(self) -> Settings:
        if self.require_secret and not self.secret_key:
            raise ConfigError(
                "ARENA_SECRET_KEY is required (set it to a long random string; `arena demo` makes its own)"
            )
        if self.battle_ttl_seconds <= 0:
            raise ConfigError("ARENA_BATTLE_TTL_SECONDS must be positive")
        if self.proxy_hops < 0:
            raise ConfigError("ARENA_PROXY_HOPS must be 0 or more")
        if self.new_visitors_per_network_hour < 1:
            raise ConfigError("ARENA_NEW_VISITORS_PER_NETWORK_HOUR must be 1 or more")
        if self.min_dwell_ms < 0:
            raise ConfigError("ARENA_MIN_DWELL_MS must be 0 or more")
        if not MIN_POW_DIFFICULTY <= self.pow_difficulty <= MAX_POW_DIFFICULTY:
            raise ConfigError(
                f"ARENA_POW_DIFFICULTY must be {MIN_POW_DIFFICULTY} to {MAX_POW_DIFFICULTY} (key derivations)"
            )
        if not 0 < len(self.terms_version) <= TERMS_VERSION_MAX or not self.terms_version.isprintable():
            raise ConfigError(f"ARENA_TERMS_VERSION must be 1 to {TERMS_VERSION_MAX} printable characters")
        if self.live_max_chars <= 0:
            raise ConfigError("ARENA_LIVE_MAX_CHARS must be positive")
        if self.live_timeout_seconds <= 0:
            raise ConfigError("ARENA_LIVE_TIMEOUT_SECONDS must be positive")
        if not 1 <= self.live_max_turns <= MAX_LIVE_TURNS:
            raise ConfigError(f"ARENA_LIVE_MAX_TURNS must be 1 to {MAX_LIVE_TURNS} (exchanges per conversation)")
        if self.live_streams_per_worker < 0:
            raise ConfigError("ARENA_LIVE_STREAMS_PER_WORKER must be 0 (half the threads) or more")
        if self.live_max_concurrent < 1:
            raise ConfigError("ARENA_LIVE_MAX_CONCURRENT must be 1 or more")
        for name, value in (("ARENA_LIVE_DAILY_BUDGET_USD", self.live_daily_budget_usd),
                            ("ARENA_LIVE_NETWORK_DAILY_BUDGET_USD", self.live_network_daily_budget_usd)):  # fmt: skip
            if value is not None and not value >= 0:
                raise ConfigError(f"{name} must be a number of dollars, 0 or more")
        if self.contact_email is not None and not CONTACT_EMAIL.fullmatch(self.contact_email):
            raise ConfigError("ARENA_CONTACT_EMAIL must be one email address (name@example.org)")
        if self.max_body_bytes < 1024:
            raise ConfigError("ARENA_MAX_BODY_BYTES must be at least 1024 (a vote form is a few hundred bytes)")
        if self.sampling not in ("uniform", "active"):
            raise ConfigError("ARENA_SAMPLING must be uniform or active")
        if not 0 <= self.repeat_share <= MAX_REPEAT_SHARE:
            raise ConfigError(f"ARENA_REPEAT_SHARE must be 0 (off) to {MAX_REPEAT_SHARE} (a share of battles)")
        if not 0 <= self.edit_share <= MAX_EDIT_SHARE:
            raise ConfigError(f"ARENA_EDIT_SHARE must be 0 (off) to {MAX_EDIT_SHARE} (a share of battles)")
        if self.provisional_votes < 0:
            raise ConfigError("ARENA_PROVISIONAL_VOTES must be 0 or more")
        self.checked_jobs()
        self.declared_arms()
        if self.live_network_daily_budget_usd is None and self.live_daily_budget_usd is not None:
            return replace(self, live_network_daily_budget_usd=self.live_daily_budget_usd / 10).checked_filters()
        return self.checked_filters()

    def checked_jobs(self) -> Settings:
        """The job settings alone (`arena worker` and `arena jobs` need no secret)."""
        if self.jobs not in ("queue", "inline", "off"):
            raise ConfigError("ARENA_JOBS must be queue, inline or off")
        if self.jobs == "queue" and not self.redis_url:
            raise ConfigError("ARENA_JOBS=queue needs ARENA_REDIS_URL (the queue is RQ on Redis); or use inline")
        if self.recompute_every_votes < 0 or self.recompute_every_seconds < 0:
            raise ConfigError("ARENA_RECOMPUTE_EVERY_VOTES and ARENA_RECOMPUTE_EVERY_SECONDS must be 0 (off) or more")
        if not 2 <= self.recompute_rounds <= 100_000:
            raise ConfigError("ARENA_RECOMPUTE_BOOTSTRAP must be 2 to 100000 (bootstrap rounds)")
        return self

    def declared_arms(self):
        """ARENA_ARMS, read (arena.voting.arms.Arms); ConfigError saying what is wrong when it cannot be."""
        from arena.voting.arms import ArmDeclarationError, parse_arms

        try:
            return parse_arms(self.arms)
        except ArmDeclarationError as exc:
            raise ConfigError(str(exc)) from exc

    def checked_secrets(self) -> Settings:
        """Refuse weak secrets (a site, not the demo or tests): ARENA_SECRET_KEY and, when set, ARENA_ADMIN_TOKEN."""
        if self.testing or not self.require_secret:
            return self
        for name, value, min_chars in (("ARENA_SECRET_KEY", self.secret_key, SECRET_KEY_MIN_CHARS),
                                       ("ARENA_ADMIN_TOKEN", self.admin_token, ADMIN_TOKEN_MIN_CHARS)):  # fmt: skip
            reason = weakness(value, min_chars) if value else None
            if reason:
                raise ConfigError(f"{name} is too weak: it {reason}; generate one with {GENERATE_SECRET}")
        return self

    def checked_filters(self) -> Settings:
        """The vote-quality filter settings alone (the recompute command needs no secret)."""
        if self.daily_vote_cap < 1:
            raise ConfigError("ARENA_DAILY_VOTE_CAP must be 1 or more")
        if self.filter_min_votes < 2:
            raise ConfigError("ARENA_FILTER_MIN_VOTES must be 2 or more")
        if not 0 < self.filter_alpha < 1:
            raise ConfigError("ARENA_FILTER_ALPHA must be between 0 and 1")
        return self
