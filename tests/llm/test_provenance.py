"""Provenance of a model row (issue 19, item 5): a configuration hash per row; a new configuration of a slug opens a
new rated row and retires the old one with its votes; the new row is provisional until ARENA_PROVISIONAL_VOTES
of its own votes count; first/last seen, sampling share and retirement in the snapshot, the board, the API, the
export and `arena models list`."""

from __future__ import annotations

import csv
import importlib.util
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from arena.db import make_engine, make_session_factory, transaction
from arena.hashing import canonical_config, config_hash
from arena.ingest.catalog import get_or_create_prompt
from arena.ingest.eq_scores import add_alias
from arena.jobs.export import export
from arena.jobs.leaderboard import snapshot
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.llm.registry import ModelSpec, RegistryError, list_models, set_active, upsert_model
from arena.migrate import downgrade, upgrade
from arena.models import Battle, Model, ModelAlias, Rating, Reply, Vote, utcnow
from arena.voting.pairing import eligible_pairs, shared_prompts
from tests.arena_cli import run_arena

MIGRATION = Path(__file__).resolve().parents[2] / "arena" / "migrations" / "versions" / "0012_model_provenance.py"
BASE = {"params": {"temperature": 0.7, "max_tokens": 600, "top_p": 0.9}, "system_prompt": "Be kind.", "samples": 2}


# ---- the hash --------------------------------------------------------------------------------------------------


def test_the_hash_is_stable_for_one_configuration():
    digest = config_hash("openai/gpt-4o-mini", BASE)
    assert len(digest) == 64 and int(digest, 16) >= 0
    reordered = {"samples": 2, "system_prompt": "Be kind.", "params": {"top_p": 0.9, "max_tokens": 600.0,
                                                                        "temperature": 0.7}}  # fmt: skip
    assert config_hash(" openai/gpt-4o-mini ", reordered) == digest
    # Where and how it is called, and what it costs, are not what is called.
    elsewhere = {**BASE, "api_base": "http://127.0.0.1:8000/v1", "api_key_env": "K", "fallbacks": ["x"],
                 "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}  # fmt: skip
    assert config_hash("openai/gpt-4o-mini", elsewhere) == digest
    assert config_hash(None, BASE) is None and config_hash("  ", BASE) is None


@pytest.mark.parametrize(
    ("litellm", "change"),
    [
        ("openai/gpt-4o", {}),
        ("openai/gpt-4o-mini", {"params": {**BASE["params"], "temperature": 0.2}}),
        ("openai/gpt-4o-mini", {"params": {**BASE["params"], "max_tokens": 601}}),
        ("openai/gpt-4o-mini", {"params": {**BASE["params"], "top_p": 1}}),
        ("openai/gpt-4o-mini", {"params": {**BASE["params"], "seed": 7}}),
        ("openai/gpt-4o-mini", {"system_prompt": "Be brief."}),
        ("openai/gpt-4o-mini", {"system_prompt": None}),
        ("openai/gpt-4o-mini", {"samples": 3}),
    ],
)
def test_the_hash_changes_with_every_named_field(litellm, change):
    assert config_hash(litellm, {**BASE, **change}) != config_hash("openai/gpt-4o-mini", BASE)


def test_the_migration_hashes_like_the_registry():
    spec = importlib.util.spec_from_file_location("migration_0012", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for litellm, meta in [("openai/x", BASE), ("openai/x", {}), (None, BASE), ("a/b", {"params": {"t": 1.0}})]:
        assert module._config_hash(litellm, meta) == config_hash(litellm, meta)
    assert canonical_config("openai/x", BASE) == {"litellm": "openai/x", **BASE}


# ---- a new configuration opens a new row ----------------------------------------------------------------------


def register(factory, slug: str, litellm: str = "openai/m", **meta) -> str:
    with transaction(factory) as s:
        return upsert_model(s, ModelSpec(slug, litellm, meta=meta).validate())


def model(factory, slug: str) -> Model:
    with factory() as s:
        return s.scalar(select(Model).where(Model.slug == slug))


def add_replies(factory, slug: str, prompt_ids: list[int]) -> None:
    with transaction(factory) as s:
        m = s.scalar(select(Model).where(Model.slug == slug))
        for p in prompt_ids:
            s.add(Reply(prompt_id=p, model_id=m.id, text=f"{slug} on {p}", config_hash=m.config_hash))


def vote(factory, slug_a: str, slug_b: str, n: int, winner: str = "model_a", *, days_ago: float = 0) -> None:
    """n counted votes between the current rows of two slugs, on their replies to the first shared prompt."""
    with transaction(factory) as s:
        a, b = (s.scalar(select(Model).where(Model.slug == slug)) for slug in (slug_a, slug_b))
        ra = s.scalar(select(Reply).where(Reply.model_id == a.id).order_by(Reply.prompt_id))
        rb = s.scalar(select(Reply).where(Reply.model_id == b.id, Reply.prompt_id == ra.prompt_id))
        start = s.scalar(select(func.count()).select_from(Battle)) or 0
        when = utcnow() - timedelta(days=days_ago)
        for k in range(n):
            battle = Battle(public_id=f"b{start + k}", prompt_id=ra.prompt_id, reply_a_id=ra.id, reply_b_id=rb.id,
                            model_a_id=a.id, model_b_id=b.id, status="voted", created_at=when)  # fmt: skip
            s.add(battle)
            s.flush()
            outcome = winner if k % 4 else "model_b"
            s.add(Vote(battle_id=battle.id, model_a_id=a.id, model_b_id=b.id, outcome=outcome, created_at=when))


def rerate(factory) -> None:
    recompute(factory, factory, RecomputeRequest(rounds=20, seed=1, filters=None, pooling=False))


@pytest.fixture
def arena_with_votes(session_factory):
    """Two called models and a demo persona with replies to three prompts, 40 votes among them, one snapshot."""
    with transaction(session_factory) as s:
        prompts = [get_or_create_prompt(s, f"I feel lost, day {k}.", source="curated")[0].id for k in range(3)]
        s.add(Model(slug="persona", display_name="Persona", meta={"demo": True}))
    register(session_factory, "warm", "openai/warm", params={"temperature": 0.7})
    register(session_factory, "coach", "openai/coach")
    for slug in ("warm", "coach", "persona"):
        add_replies(session_factory, slug, prompts)
    vote(session_factory, "warm", "coach", 30, days_ago=10)
    vote(session_factory, "persona", "warm", 10)
    rerate(session_factory)
    return session_factory, prompts


def test_a_new_configuration_opens_a_new_row_and_old_votes_stay_with_the_old_one(arena_with_votes):
    factory, prompts = arena_with_votes
    old = model(factory, "warm")
    with factory() as s:
        old_votes = s.scalar(
            select(func.count()).select_from(Vote).where((Vote.model_a_id == old.id) | (Vote.model_b_id == old.id))
        )
        old_ratings = s.execute(select(Rating.run_id, Rating.category, Rating.rating).where(Rating.model_id == old.id)
                                .order_by(Rating.id)).all()  # fmt: skip
        add_alias(s, "warm", "Warm Model 1")
        s.commit()
    assert old_votes == 40

    assert register(factory, "warm", "openai/warm", params={"temperature": 0.2}) == "reconfigured"

    new, retired = model(factory, "warm"), model(factory, f"warm@{old.config_hash[:8]}")
    assert retired.id == old.id and new.id != old.id
    assert new.variant_of_id == old.id and new.active and new.retired_at is None
    assert new.config_hash == config_hash("openai/warm", {"params": {"temperature": 0.2}}) != old.config_hash
    assert retired.retired_at is not None and not retired.active and retired.display_name.endswith("]")
    with factory() as s:
        # Every vote, battle and reply of the old configuration stays with it; the new row starts from nothing.
        for row in (new,):
            assert not s.scalar(select(func.count()).select_from(Vote).where(
                (Vote.model_a_id == row.id) | (Vote.model_b_id == row.id)))  # fmt: skip
            assert not s.scalar(select(func.count()).select_from(Reply).where(Reply.model_id == row.id))
        assert s.scalar(select(func.count()).select_from(Reply).where(Reply.model_id == old.id)) == 3
        assert s.scalar(select(ModelAlias.model_id)) == new.id  # the name external benchmarks use follows
        assert s.execute(select(Rating.run_id, Rating.category, Rating.rating).where(Rating.model_id == old.id)
                         .order_by(Rating.id)).all() == old_ratings  # fmt: skip
        # The retired configuration is never drawn again; the new one only once it has replies.
        pool = {m for pair in eligible_pairs(s) for m in (pair.low_model_id, pair.high_model_id)}
        assert old.id not in pool and new.id not in pool
        assert all(old.id not in key for key in shared_prompts(s))

    # A retired row cannot come back; the same configuration registered again is unchanged.
    with pytest.raises(RegistryError, match="retired configuration"), transaction(factory) as s:
        set_active(s, retired.slug, True)
    assert register(factory, "warm", "openai/warm", params={"temperature": 0.2}) == "unchanged"

    # The next snapshot keeps the old row's votes for it alone; the new row appears with its own votes.
    add_replies(factory, "warm", prompts)
    vote(factory, "warm", "coach", 6)
    rerate(factory)
    with factory() as s:
        board = snapshot(s, "overall", provisional_votes=10)
    rows = {r.slug: r for r in board.rows}
    assert rows[retired.slug].battles == 40 and rows["warm"].battles == 6
    assert rows["warm"].variant_of == retired.slug and rows["warm"].new_config and rows["warm"].provisional
    assert rows[retired.slug].retired_at is not None and not rows[retired.slug].new_config
    assert rows["warm"].config_hash == new.config_hash


def test_the_provisional_flag_clears_after_n_fresh_votes(arena_with_votes):
    factory, prompts = arena_with_votes
    register(factory, "coach", "openai/coach", system_prompt="You are a coach.")
    add_replies(factory, "coach", prompts)
    vote(factory, "coach", "persona", 35)
    rerate(factory)
    with factory() as s:
        rows = {r.slug: r for r in snapshot(s, "overall", provisional_votes=36).rows}
        assert rows["coach"].battles == 35 and rows["coach"].provisional and rows["coach"].new_config
        # 35 battles clear the general 30-battle rule: only the fresh-vote rule keeps it provisional.
        rows = {r.slug: r for r in snapshot(s, "overall", provisional_votes=35).rows}
        assert not rows["coach"].provisional and not rows["coach"].new_config
        # Rows that replaced nothing follow only the battle count.
        assert not rows["persona"].new_config
    vote(factory, "coach", "persona", 1)
    rerate(factory)
    with factory() as s:
        rows = {r.slug: r for r in snapshot(s, "overall", provisional_votes=36).rows}
    assert rows["coach"].battles == 36 and not rows["coach"].provisional


def test_first_and_last_seen_and_sampling_share(arena_with_votes):
    factory, _ = arena_with_votes
    with factory() as s:
        board = snapshot(s, "overall")
    rows = {r.slug: r for r in board.rows}
    assert board.sampling_window_days == 7
    # 30 battles 10 days ago (outside the window), 10 today between persona and warm.
    assert rows["coach"].sampling_share == 0.0 and rows["warm"].sampling_share == 1.0
    assert rows["persona"].sampling_share == 1.0
    assert rows["coach"].first_seen < rows["persona"].first_seen
    assert rows["warm"].first_seen == rows["coach"].first_seen and rows["warm"].last_seen == rows["persona"].last_seen
    assert rows["persona"].config_hash is None
    as_json = {r["model"]: r for r in board.as_json()["ratings"]}
    assert as_json["coach"]["sampling_share"] == 0.0 and as_json["coach"]["retired_at"] is None
    assert as_json["warm"]["config_hash"] == model(factory, "warm").config_hash


def test_a_change_without_history_updates_in_place_and_add_carries_the_new_fields(session_factory):
    assert register(session_factory, "fresh", "openai/a") == "added"
    before = model(session_factory, "fresh")
    assert register(session_factory, "fresh", "openai/b", system_prompt="Hi.", samples=3) == "updated"
    after = model(session_factory, "fresh")
    assert after.id == before.id and after.config_hash == config_hash("openai/b", {"system_prompt": "Hi.",
                                                                                   "samples": 3})  # fmt: skip
    for bad in ({"samples": 0}, {"samples": 21}, {"samples": True}, {"system_prompt": " "}):
        with pytest.raises(RegistryError):
            ModelSpec("x", "openai/x", meta=bad).validate()
    with session_factory() as s:
        listed = {m["slug"]: m for m in list_models(s)}
    assert listed["fresh"]["config"] == {"litellm": "openai/b", "params": {}, "system_prompt": "Hi.", "samples": 3}


def test_cli_add_reconfigures_and_list_shows_provenance(arena_with_votes, database_url):
    factory, _ = arena_with_votes
    old = model(factory, "coach")
    added = run_arena("models", "add", "coach", "--litellm", "openai/coach", "--system-prompt", "Listen first.",
                      "--database-url", database_url)  # fmt: skip
    assert added.returncode == 0 and "coach: reconfigured" in added.stdout, added.stderr
    listed = run_arena("models", "list", "--json", "--database-url", database_url)
    assert listed.returncode == 0, listed.stderr
    models = {m["slug"]: m for m in json.loads(listed.stdout)["models"]}
    retired = models[f"coach@{old.config_hash[:8]}"]
    assert retired["retired_at"] and retired["first_seen"] and retired["last_seen"] and not retired["active"]
    assert retired["sampling_share"] == 0.0 and models["warm"]["sampling_share"] == 1.0
    assert models["coach"]["variant_of"] == retired["slug"] and models["coach"]["system_prompt"] == "Listen first."
    assert models["coach"]["first_seen"] is None and models["coach"]["retired_at"] is None
    table = run_arena("models", "list", "--database-url", database_url)
    assert retired["slug"] in table.stdout and old.config_hash[:8] in table.stdout


# ---- export, board, API ----------------------------------------------------------------------------------------


def test_the_export_carries_the_provenance(arena_with_votes, tmp_path):
    factory, _ = arena_with_votes
    old = model(factory, "warm")
    register(factory, "warm", "openai/warm", params={"temperature": 0.3})
    with factory() as s:
        summary = export(s, tmp_path, "csv")
    assert "models.csv" in summary.files
    with (tmp_path / "models.csv").open(encoding="utf-8") as handle:
        rows = {r["model"]: r for r in csv.DictReader(handle)}
    retired = rows[f"warm@{old.config_hash[:8]}"]
    assert retired["config_hash"] == old.config_hash and retired["retired_at"] and retired["active"] == "False"
    assert json.loads(retired["config"]) == {"litellm": "openai/warm", "params": {"temperature": 0.7},
                                             "system_prompt": None, "samples": None}  # fmt: skip
    assert retired["first_seen"] and retired["last_seen"] and float(retired["sampling_share"]) == 1.0
    assert rows["warm"]["variant_of"] == retired["model"] and rows["warm"]["first_seen"] == ""
    assert rows["persona"]["config_hash"] == "" and rows["coach"]["sampling_share"] == "0.0"
    assert rows["persona"]["sampling_window_days"] == "7"
    card = (tmp_path / "README.md").read_text()
    assert "## models.csv columns" in card and "`config_hash`" in card
    # The battles carry the retired row's name, so they never read as the new configuration's.
    with (tmp_path / "battles.csv").open(encoding="utf-8") as handle:
        names = {r["model_a"] for r in csv.DictReader(handle)} | set()
    assert retired["model"] in names and "warm" not in names


@pytest.fixture
def reconfigured_board(arena_with_votes):
    factory, prompts = arena_with_votes
    register(factory, "warm", "openai/warm", params={"temperature": 0.1})
    add_replies(factory, "warm", prompts)
    vote(factory, "warm", "coach", 4)
    rerate(factory)
    return factory


def test_the_board_and_the_api_show_the_provenance(reconfigured_board, app_settings):
    from dataclasses import replace

    from arena import create_app

    app = create_app(replace(app_settings, provisional_votes=5))
    client = app.test_client()
    html = client.get("/leaderboard").get_data(as_text=True)
    assert "retired <time" in html and "Sampled" in html and "config <code" in html and "seen 20" in html
    assert "stays\n      provisional until 5 of its own votes count" in html
    body = client.get("/api/leaderboard").get_json()
    assert body["provisional_new_config_votes"] == 5 and body["sampling_window_days"] == 7
    rows = {r["model"]: r for r in body["ratings"]}
    retired = next(r for slug, r in rows.items() if slug.startswith("warm@"))
    assert retired["retired_at"] and not retired["new_config"] and retired["first_seen"] and retired["last_seen"]
    assert rows["warm"]["variant_of"] == retired["model"] and rows["warm"]["new_config"] is True
    assert rows["warm"]["provisional"] is True and rows["persona"]["config_hash"] is None


# ---- the migration ---------------------------------------------------------------------------------------------


def test_migration_0012_backfills_hashes_and_keeps_ratings_on_a_round_trip(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0011")
    meta = json.dumps({"params": {"temperature": 0.5}, "api_key_env": "K"})
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        for k, litellm, m in ((1, "openai/a", meta), (2, None, "{}")):
            conn.execute(
                text("INSERT INTO model (id, slug, display_name, litellm_model, active, metadata, created_at) "
                     "VALUES (:k, :s, :s, :l, TRUE, :m, :now)"),
                {"k": k, "s": f"m{k}", "l": litellm, "m": m, "now": now},
            )  # fmt: skip
        conn.execute(text("INSERT INTO battle (id, public_id, source, model_a_id, model_b_id, status, created_at, "
                          "metadata) VALUES (1, 'b1', 'arena', 1, 2, 'voted', :now, '{}')"), {"now": now})  # fmt: skip
        conn.execute(text("INSERT INTO vote (battle_id, model_a_id, model_b_id, outcome, created_at, "
                          "counts_for_leaderboard) VALUES (1, 1, 2, 'model_a', :now, TRUE)"), {"now": now})  # fmt: skip
        conn.execute(text("INSERT INTO rating_run (id, started_at, finished_at, status, params, seed, code_version, "
                          "n_votes, matrices, summary) VALUES (1, :now, :now, 'complete', '{}', 0, 'x', 1, '{}', "
                          "'{}')"), {"now": now})  # fmt: skip
        conn.execute(text("INSERT INTO rating (run_id, category, model_id, rating, ci_low, ci_high, rank_ub, battles, "
                          "wins, ties) VALUES (1, 'overall', 1, 1012.5, 990.0, 1030.0, 1, 1, 1.0, 0.0)"))  # fmt: skip
    ratings = "SELECT model_id, rating, ci_low, ci_high, rank_ub, battles FROM rating ORDER BY id"
    with engine.connect() as conn:
        before = conn.execute(text(ratings)).all()
    upgrade(engine)
    with engine.connect() as conn:
        hashes = dict(conn.execute(text("SELECT slug, config_hash FROM model")).all())
        assert conn.execute(text(ratings)).all() == before
        assert conn.execute(text("SELECT count(*) FROM model WHERE retired_at IS NOT NULL")).scalar() == 0
    assert hashes == {"m1": config_hash("openai/a", {"params": {"temperature": 0.5}}), "m2": None}
    factory = make_session_factory(engine)
    with factory() as s:  # the ORM reads the upgraded rows, and the snapshot with no provenance yet
        board = snapshot(s, "overall")
        assert board.rows[0].first_seen is None and board.rows[0].config_hash == hashes["m1"]
    downgrade(engine, "0011")
    with engine.connect() as conn:
        assert conn.execute(text(ratings)).all() == before
        assert conn.execute(text("SELECT count(*) FROM model")).scalar() == 2
    upgrade(engine)
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT slug, config_hash FROM model")).all()) == hashes
    engine.dispose()


# ---- generation sends and records the configuration ------------------------------------------------------------


def test_generation_sends_the_system_prompt_keeps_the_samples_and_records_the_hash(session_factory, llm_server):
    pytest.importorskip("litellm")
    from arena.llm.generation import GenerationOptions, generate
    from arena.llm.retry import RetryPolicy
    from tests.llm.llm_models import add_model, add_prompts, served

    prompts = add_prompts(session_factory, ["My cat is ill and I can't afford the vet."])
    add_model(session_factory, **served(llm_server, "kind", system_prompt="Answer in one sentence.", samples=2,
                                        params={"temperature": 1.0}))  # fmt: skip
    llm_server.replies["kind"] = lambda messages: f"Take a breath. ({len(llm_server.requests)})"
    summary = generate(session_factory, GenerationOptions(retry=RetryPolicy(attempts=1, base_delay=0.01, timeout=5)))
    assert summary.generated == 2
    sent = llm_server.requests_for("kind")
    assert sent and all(r.messages[0] == {"role": "system", "content": "Answer in one sentence."} for r in sent)
    assert all(r.messages[-1]["role"] == "user" for r in sent)
    kind = model(session_factory, "kind")
    with session_factory() as s:
        stored = s.execute(select(Reply.prompt_id, Reply.sample, Reply.config_hash)).all()
    assert sorted(stored) == [(prompts[0], 0, kind.config_hash), (prompts[0], 1, kind.config_hash)]
