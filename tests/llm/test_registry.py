"""The model registry: `arena models add / list / sync / activate / deactivate`, TOML specs, keys only by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.hashing import config_hash
from arena.llm.registry import (
    ModelSpec,
    RegistryError,
    list_models,
    read_models_toml,
    set_active,
    sync_models,
    upsert_model,
)
from arena.models import Model, Prompt, Reply
from tests.arena_cli import run_arena

MODELS_TOML = """
[[models]]
slug = "gpt-mini"
litellm = "openai/gpt-4o-mini"
display = "GPT-4o mini"
api_key_env = "OPENAI_API_KEY"
fallbacks = ["local-llama"]
params = { temperature = 0.7, max_tokens = 600 }

[[models]]
slug = "local-llama"
litellm = "openai/llama-3.1-8b"
api_base = "http://127.0.0.1:8000/v1"
api_key_env = "LOCAL_LLM_KEY"
input_cost_per_token = 0.0
output_cost_per_token = 0.0
"""


def write(tmp_path: Path, text: str, name: str = "models.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def models_by_slug(factory) -> dict[str, Model]:
    with factory() as session:
        return {m.slug: m for m in session.scalars(select(Model))}


def test_read_models_toml_gives_specs_with_registry_metadata(tmp_path):
    specs = read_models_toml(write(tmp_path, MODELS_TOML))
    assert [s.slug for s in specs] == ["gpt-mini", "local-llama"]
    assert specs[0].display == "GPT-4o mini" and specs[0].litellm == "openai/gpt-4o-mini"
    assert specs[0].meta == {
        "api_key_env": "OPENAI_API_KEY",
        "fallbacks": ["local-llama"],
        "params": {"temperature": 0.7, "max_tokens": 600},
    }
    assert specs[1].meta["api_base"] == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[[models]]\nslug = "a"\nlitellm = "openai/a"\napi_key = "sk-123"\n', "API keys are never stored"),
        ('[[models]]\nslug = "a"\nlitellm = "openai/a"\napi_key_env = "sk-123 abc"\n', "environment variable NAME"),
        ('[[models]]\nslug = "a"\n', "litellm (a string) is required"),
        ('[[models]]\nslug = "a"\nlitellm = "openai/a"\ncolour = "red"\n', "unknown field(s) colour"),
        ('[[models]]\nslug = "a"\nlitellm = "openai/a"\ninput_cost_per_token = 1e-6\n', "give both"),
        (
            '[[models]]\nslug = "a"\nlitellm = "openai/a"\ninput_cost_per_token = -1\noutput_cost_per_token = 1\n',
            "must be a number >= 0",
        ),  # fmt: skip
        ('[[models]]\nslug = "a"\nlitellm = "openai/a"\nfallbacks = ["a"]\n', "its own fallback"),
        ('[[models]]\nslug = "a"\nlitellm = "x"\n[[models]]\nslug = "a"\nlitellm = "y"\n', "appears twice"),
        ("models = 3\n", "no [[models]] tables"),
        ("[[models]\n", "not valid TOML"),
    ],
)
def test_read_models_toml_rejects_bad_specs_with_a_reason(tmp_path, text, reason):
    with pytest.raises(RegistryError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_models_toml(write(tmp_path, text))


def test_sync_adds_then_updates_and_keeps_history(session_factory, tmp_path):
    specs = read_models_toml(write(tmp_path, MODELS_TOML))
    with transaction(session_factory) as session:
        assert sync_models(session, specs) == {"added": 2, "updated": 0, "unchanged": 0, "reconfigured": 0}
    with transaction(session_factory) as session:
        assert sync_models(session, specs) == {"added": 0, "updated": 0, "unchanged": 2, "reconfigured": 0}
        # History that must survive a re-sync and a deactivation.
        model = session.scalar(select(Model).where(Model.slug == "gpt-mini"))
        model.meta = {**model.meta, "aliases_note": "kept"}
        prompt = Prompt(text="hello", source="curated", content_hash="h1")
        session.add(prompt)
        session.flush()
        session.add(Reply(prompt_id=prompt.id, model_id=model.id, text="hi"))

    changed = MODELS_TOML.replace("temperature = 0.7", "temperature = 0.2").replace(
        'api_key_env = "LOCAL_LLM_KEY"\n', ""
    )
    with transaction(session_factory) as session:
        # gpt-mini's temperature is part of what is called and it has a reply: a new row; local-llama's key variable
        # is not, so it is updated in place.
        assert sync_models(session, read_models_toml(write(tmp_path, changed))) == {
            "added": 0, "updated": 1, "unchanged": 0, "reconfigured": 1,
        }  # fmt: skip
    models = models_by_slug(session_factory)
    assert models["gpt-mini"].meta["params"]["temperature"] == 0.2
    assert models["gpt-mini"].meta["aliases_note"] == "kept"  # metadata the registry does not own stays
    assert "api_key_env" not in models["local-llama"].meta  # a key the file no longer names is gone
    assert models["gpt-mini"].provider == "openai"

    with transaction(session_factory) as session:
        assert set_active(session, "gpt-mini", False) is True
    with session_factory() as session:
        assert session.scalar(select(Reply.text)) == "hi"
        listed = {m["slug"]: m for m in list_models(session)}
    assert listed["gpt-mini"]["active"] is False and listed["local-llama"]["active"] is True
    # A sync without `active` leaves the flag as it is.
    with transaction(session_factory) as session:
        sync_models(session, read_models_toml(write(tmp_path, changed)))
    assert models_by_slug(session_factory)["gpt-mini"].active is False


def test_sync_with_an_unknown_fallback_changes_nothing(session_factory, tmp_path):
    text = '[[models]]\nslug = "a"\nlitellm = "openai/a"\n\n[[models]]\nslug = "b"\nlitellm = "openai/b"\n'
    text += 'fallbacks = ["nowhere"]\n'
    specs = read_models_toml(write(tmp_path, text))
    with (
        pytest.raises(RegistryError, match="fallback nowhere is not a registered model"),
        transaction(session_factory) as session,
    ):
        sync_models(session, specs)
    assert models_by_slug(session_factory) == {}


def test_add_updates_an_imported_model_in_place(session_factory):
    with transaction(session_factory) as session:
        session.add(Model(slug="claude", display_name="Claude", meta={"imported": True}))
    with transaction(session_factory) as session:
        state = upsert_model(session, ModelSpec("claude", "anthropic/claude-sonnet-4", display="Claude Sonnet"))
    assert state == "updated"
    model = models_by_slug(session_factory)["claude"]
    assert (model.litellm_model, model.display_name, model.provider) == (
        "anthropic/claude-sonnet-4", "Claude Sonnet", "anthropic",
    )  # fmt: skip
    assert model.meta == {"imported": True}


def test_cli_models_sync_list_deactivate_and_add(database_url, tmp_path):
    path = write(tmp_path, MODELS_TOML)
    secret = "sk-never-shown-0042"
    env = {"OPENAI_API_KEY": secret}

    synced = run_arena("models", "sync", str(path), "--database-url", database_url, env=env)
    assert synced.returncode == 0, synced.stderr
    assert "2 added, 0 updated, 0 unchanged" in synced.stdout

    added = run_arena("models", "add", "qwen", "--litellm", "openai/qwen3", "--display", "Qwen 3",
                      "--api-base", "http://127.0.0.1:9/v1", "--api-key-env", "QWEN_KEY",
                      "--fallback", "local-llama", "--database-url", database_url)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "qwen: added" in added.stdout

    off = run_arena("models", "deactivate", "gpt-mini", "--database-url", database_url)
    assert off.returncode == 0 and "1 model(s) deactivated" in off.stdout

    listed = run_arena("models", "list", "--json", "--database-url", database_url, env=env)
    assert listed.returncode == 0, listed.stderr
    models = {m["slug"]: m for m in json.loads(listed.stdout)["models"]}
    assert models["gpt-mini"]["active"] is False and models["gpt-mini"]["api_key_env"] == "OPENAI_API_KEY"
    qwen = models["qwen"]
    assert qwen.pop("created_at")
    assert qwen == {
        "slug": "qwen", "display_name": "Qwen 3", "provider": "openai", "litellm_model": "openai/qwen3",
        "active": True, "api_base": "http://127.0.0.1:9/v1", "api_key_env": "QWEN_KEY", "fallbacks": ["local-llama"],
        "params": None, "input_cost_per_token": None, "output_cost_per_token": None,
        "system_prompt": None, "samples": None, "config_hash": config_hash("openai/qwen3", {}),
        "config": {"litellm": "openai/qwen3", "params": {}, "system_prompt": None, "samples": None},
        "variant_of": None, "retired_at": None, "first_seen": None, "last_seen": None, "sampling_share": None,
    }  # fmt: skip
    assert json.loads(listed.stdout)["sampling_window_days"] == 7
    table = run_arena("models", "list", "--database-url", database_url, env=env)
    assert "gpt-mini" in table.stdout and "OPENAI_API_KEY" in table.stdout
    for result in (synced, listed, table):
        assert secret not in result.stdout + result.stderr

    on = run_arena("models", "activate", "gpt-mini", "--database-url", database_url)
    assert on.returncode == 0 and "1 model(s) activated" in on.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("models", "sync", "missing.toml"), "no such file"),
        (("models", "deactivate", "nobody"), "no model nobody"),
        (("models", "add", "x", "--litellm", "openai/x", "--fallback", "nobody"), "fallback nobody"),
        (("models", "add", "x", "--litellm", "openai/x", "--api-key-env", "not a name"), "environment variable NAME"),
    ],
)
def test_cli_models_bad_input_exits_2_and_changes_nothing(database_url, session_factory, tmp_path, args, reason):
    args = tuple(str(tmp_path / a) if a.endswith(".toml") else a for a in args)
    result = run_arena(*args, "--database-url", database_url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert models_by_slug(session_factory) == {}


def test_cli_models_sync_rejects_a_stored_key_without_writing(database_url, session_factory, tmp_path):
    path = write(tmp_path, MODELS_TOML + '\n[[models]]\nslug = "leaky"\nlitellm = "openai/x"\napi_key = "sk-9"\n')
    result = run_arena("models", "sync", str(path), "--database-url", database_url)
    assert result.returncode == 2 and "API keys are never stored" in result.stderr
    assert "nothing was changed" in result.stderr and "sk-9" not in result.stderr
    assert models_by_slug(session_factory) == {}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('params = { api_key = "sk-live-SECRET1" }', "params.api_key"),
        (
            'params = { extra_headers = { Authorization = "Bearer sk-live-SECRET1" } }',
            "params.extra_headers.Authorization",
        ),
        ('params = { aws_secret_access_key = "sk-live-SECRET1" }', "params.aws_secret_access_key"),
        ('params = { token = "sk-live-SECRET1" }', "params.token"),
        ('params = { password = "sk-live-SECRET1" }', "params.password"),
        ('api_base = "https://me:sk-live-SECRET1@llm.example/v1"', "api_base"),
        # A key in the query string (issue 19): by parameter name, or shaped like a key whatever the name.
        ('api_base = "https://llm.example/v1?key=sk-live-SECRET1"', "api_base"),
        ('api_base = "https://llm.example/v1?api-version=2024-06-01&api_key=SECRET1"', "api_base"),
        ('api_base = "https://llm.example/v1?token=SECRET1"', "api_base"),
        ('api_base = "https://fn.example/api?code=SECRET1"', "api_base"),
        ('api_base = "https://llm.example/v1?x=sk-live-SECRET1"', "api_base"),
    ],
)
def test_cli_models_sync_refuses_a_credential_anywhere(database_url, session_factory, tmp_path, entry, field):
    path = write(tmp_path, f'[[models]]\nslug = "leaky"\nlitellm = "openai/x"\n{entry}\n')
    result = run_arena("models", "sync", str(path), "--database-url", database_url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and field in lines[0], result.stderr
    assert "SECRET1" not in result.stderr + result.stdout
    assert models_by_slug(session_factory) == {}


def test_cli_models_add_refuses_credentials_in_the_api_base(database_url, session_factory):
    result = run_arena("models", "add", "x", "--litellm", "openai/x", "--api-base", "http://u:SECRET2@h/v1",
                       "--database-url", database_url)  # fmt: skip
    assert result.returncode == 2 and "api_base" in result.stderr and "SECRET2" not in result.stderr
    assert models_by_slug(session_factory) == {}


def test_cli_models_add_refuses_a_key_in_the_api_base_query(database_url, session_factory):
    result = run_arena("models", "add", "x", "--litellm", "openai/x", "--api-base",
                       "https://llm.example/v1?key=sk-SECRET4abcdefgh", "--database-url", database_url)  # fmt: skip
    assert result.returncode == 2 and "api_base" in result.stderr and "SECRET4" not in result.stderr
    assert models_by_slug(session_factory) == {}


def test_an_api_base_query_without_a_key_is_kept():
    from arena.llm.registry import ModelSpec

    spec = ModelSpec("azure", "azure/gpt", meta={"api_base": "https://x.example/openai?api-version=2024-06-01"})
    assert spec.validate().meta["api_base"].endswith("api-version=2024-06-01")


def test_a_key_in_a_stored_api_base_query_is_masked():
    from arena.llm.registry import masked

    assert masked({"api_base": "https://h/v1?key=sk-OLD5abcdefgh"})["api_base"] == "https://h/v1?***"


def test_models_list_masks_a_key_stored_before_the_check(database_url, session_factory):
    with transaction(session_factory) as s:
        s.add(Model(slug="old", display_name="Old", litellm_model="openai/x",
                    meta={"params": {"api_key": "sk-OLD3", "max_tokens": 300,
                                     "extra_headers": {"X-Api-Key": "sk-OLD3"}},
                          "api_base": "https://u:sk-OLD3@h/v1"}))  # fmt: skip
    result = run_arena("models", "list", "--json", "--database-url", database_url)
    assert result.returncode == 0 and "sk-OLD3" not in result.stdout
    model = json.loads(result.stdout)["models"][0]
    assert model["params"] == {"api_key": "***", "max_tokens": 300, "extra_headers": {"X-Api-Key": "***"}}
    assert model["api_base"] == "https://***@h/v1"
    assert "sk-OLD3" not in run_arena("models", "list", "--database-url", database_url).stdout
