"""`arena models ...`: the contestants, their aliases and how litellm reaches them."""

from __future__ import annotations

from pathlib import Path

import click

from arena.cli.common import BadInput, database_option, open_engine, print_json, require_schema, session_factory


@click.group("models")
def models_group() -> None:
    """The contestants."""


@models_group.command("alias")
@database_option
@click.argument("slug")
@click.argument("aliases", nargs=-1, required=True)
def alias_command(database_url: str, slug: str, aliases: tuple[str, ...]) -> None:
    """Other names of a model (as external benchmarks spell it), e.g. `arena models alias gpt-4-1 openai/gpt-4.1`."""
    from arena.db import make_session_factory
    from arena.ingest.eq_scores import add_alias

    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine)() as session:
        try:
            for alias in aliases:
                add_alias(session, slug, alias)
            session.commit()
        except (LookupError, ValueError) as exc:
            session.rollback()
            raise BadInput(str(exc)) from exc
    click.echo(f"{slug}: {len(aliases)} alias(es) recorded")


@models_group.command("add")
@database_option
@click.argument("slug")
@click.option("--litellm", "litellm_model", required=True, help="litellm model string, e.g. openai/gpt-4.1-mini.")
@click.option("--display", help="Display name (default: the slug).")
@click.option("--provider", help="Default: the litellm model's prefix.")
@click.option("--api-base", help="Base URL of an OpenAI-compatible endpoint.")
@click.option("--api-key-env", help="NAME of the environment variable holding the API key (its value is never stored).")
@click.option("--fallback", "fallbacks", multiple=True, help="Slug of a model to try when this one fails; repeatable.")
@click.option("--input-cost-per-token", type=float, help="USD, for models litellm has no price for.")
@click.option("--output-cost-per-token", type=float, help="USD, for models litellm has no price for.")
@click.option("--system-prompt", help="A system message sent before every person's message (default: none).")
@click.option("--samples", type=int, help="Replies kept per (message, model) (default: `arena generate --samples`).")
@click.option("--inactive", is_flag=True, help="Register without taking part in generation and battles.")
def models_add_command(database_url, slug, litellm_model, display, provider, api_base, api_key_env, fallbacks,
                       input_cost_per_token, output_cost_per_token, system_prompt, samples,
                       inactive) -> None:  # fmt: skip
    """Register a model (or update its litellm settings); its replies, votes and ratings are kept. A change of
    what is called (litellm model, parameters, system prompt, samples) of a model with replies or battles opens a
    new rated row and retires the old one with its votes."""
    from arena.db import transaction
    from arena.llm.registry import ModelSpec, RegistryError, check_fallbacks, upsert_model

    meta = {
        "api_base": api_base, "api_key_env": api_key_env, "fallbacks": list(fallbacks) or None,
        "input_cost_per_token": input_cost_per_token, "output_cost_per_token": output_cost_per_token,
        "system_prompt": system_prompt, "samples": samples,
    }  # fmt: skip
    spec = ModelSpec(slug, litellm_model, display=display, provider=provider, active=False if inactive else None,
                     meta={k: v for k, v in meta.items() if v is not None})  # fmt: skip
    factory = session_factory(database_url)
    try:
        spec.validate()
        with transaction(factory) as session:
            state = upsert_model(session, spec)
            check_fallbacks(session)
    except RegistryError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"{slug}: {state}")


@models_group.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def models_list_command(database_url: str, as_json: bool) -> None:
    """Every model, active or not, with how it is reached (key variable names, never values)."""
    from arena.jobs.provenance import measure
    from arena.llm.registry import list_models_by_id

    with session_factory(database_url)() as session:
        listed = list_models_by_id(session)
        seen = measure(session)
    models = [m for _, m in listed]
    for model_id, m in listed:
        entry = seen["models"].get(str(model_id)) or {}
        share = entry.get("sampling_share")
        m.update(first_seen=entry.get("first_seen"), last_seen=entry.get("last_seen"),
                 sampling_share=0.0 if share is None and seen["recent_battles"] else share)  # fmt: skip
    if as_json:
        print_json({"models": models, "sampling_window_days": seen["window_days"]})
        return
    click.echo(f"{'model':<32} {'active':<7} {'litellm model':<40} {'api key from':<20} {'fallbacks':<20} "
               f"{'config':<9} {'first seen':<11} {'last seen':<11} {'sampled':<8} retired")  # fmt: skip
    for m in models:
        share = "-" if m["sampling_share"] is None else f"{m['sampling_share'] * 100:.0f}%"
        click.echo(f"{m['slug']:<32} {'yes' if m['active'] else 'no':<7} {m['litellm_model'] or '-':<40} "
                   f"{m['api_key_env'] or '-':<20} {', '.join(m['fallbacks'] or []) or '-':<20} "
                   f"{(m['config_hash'] or '-')[:8]:<9} {(m['first_seen'] or '-')[:10]:<11} "
                   f"{(m['last_seen'] or '-')[:10]:<11} {share:<8} {(m['retired_at'] or '-')[:10]}")  # fmt: skip


@models_group.command("sync")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def models_sync_command(database_url: str, file: Path) -> None:
    """Register every model of a TOML file of [[models]] tables (all of them, or on an error none). Models not in
    the file are left as they are."""
    from arena.db import transaction
    from arena.llm.registry import RegistryError, read_models_toml, sync_models

    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    factory = session_factory(database_url)
    try:
        specs = read_models_toml(file)
        with transaction(factory) as session:
            counts = sync_models(session, specs)
    except RegistryError as exc:
        raise BadInput(f"{exc}; nothing was changed") from exc
    line = f"{file.name}: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged"
    if counts["reconfigured"]:
        line += (f", {counts['reconfigured']} reconfigured (a new rated row each; the old configuration retired "
                 "with its votes)")  # fmt: skip
    click.echo(line)


def _set_active(database_url: str, slugs: tuple[str, ...], active: bool) -> None:
    from arena.db import transaction
    from arena.llm.registry import RegistryError, set_active

    factory = session_factory(database_url)
    try:
        with transaction(factory) as session:
            changed = sum(set_active(session, slug, active) for slug in slugs)
    except RegistryError as exc:
        raise BadInput(f"{exc}; nothing was changed") from exc
    click.echo(f"{changed} model(s) {'activated' if active else 'deactivated'}")


@models_group.command("activate")
@database_option
@click.argument("slugs", nargs=-1, required=True)
def models_activate_command(database_url: str, slugs: tuple[str, ...]) -> None:
    """Let models take part again (generation, battles)."""
    _set_active(database_url, slugs, True)


@models_group.command("deactivate")
@database_option
@click.argument("slugs", nargs=-1, required=True)
def models_deactivate_command(database_url: str, slugs: tuple[str, ...]) -> None:
    """Take models out of generation and new battles; their replies, votes and ratings are kept."""
    _set_active(database_url, slugs, False)
