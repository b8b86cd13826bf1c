"""The model registry: which models answer through litellm, and how to reach them (see arena/llm/client.py for
the metadata keys). Keys are never stored: only the name of the environment variable that holds one."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from arena.hashing import canonical_config, config_hash
from arena.models import Battle, Model, ModelAlias, Reply, utcnow

# Metadata keys the registry owns: a sync or add sets them from the spec and removes those the spec leaves out.
REGISTRY_KEYS = (
    "api_base", "api_key_env", "fallbacks", "params", "input_cost_per_token", "output_cost_per_token",
    "system_prompt", "samples",
)  # fmt: skip
# The most replies kept per (message, model); the same bound as `arena generate --samples`.
MAX_SAMPLES = 20
TOML_FIELDS = {"slug", "litellm", "display", "provider", "active", *REGISTRY_KEYS}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A parameter whose name says it holds a credential (api_key, x-api-key, access_token, client_secret, password,
# Authorization, ...): never stored; the key belongs in the environment, named by api_key_env.
KEY_LIKE = re.compile(
    r"(?:^|[_\-.])(?:api[_\-.]?)?(?:keys?|token|secrets?|password|passwd|pwd|authorization|auth|credentials?|bearer|"
    r"cookie)(?:$|[_\-.])|apikey|accesskey|secretkey",
    re.IGNORECASE,
)
MASK = "***"


def credential_fields(meta: dict[str, Any], where: str = "params") -> list[str]:
    """The dotted names of every key-like field under `params` (nested tables too), and `api_base` when its URL
    carries a user or password; names only, never values."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                here = f"{path}.{name}"
                if KEY_LIKE.search(str(name)) and not str(name).endswith("_env"):
                    found.append(here)
                else:
                    walk(inner, here)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, f"{path}[{i}]")

    walk(meta.get("params"), where)
    base = meta.get("api_base")
    if isinstance(base, str) and (_has_userinfo(base) or _query_credentials(base)):
        found.append("api_base")
    return found


def _has_userinfo(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "@" in url
    return bool(parts.username or parts.password) or "@" in parts.netloc


# Query parameters that carry a key in URLs some providers accept (`?key=`, `?api_key=`, `?token=`, Azure's
# `?code=`, a signed URL's `?sig=`), and values shaped like a secret key whatever their name (`sk-...`).
QUERY_KEY_NAMES = re.compile(r"^(?:code|sig|signature)$", re.IGNORECASE)
KEY_LIKE_VALUE = re.compile(r"(?:^|[^A-Za-z0-9])(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}")


def _query_credentials(url: str) -> list[str]:
    """The names of query (or fragment) parameters of `url` that carry a credential."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ["?"] if "?" in url else []
    found = []
    for part in (parts.query, parts.fragment):
        for name, value in parse_qsl(part, keep_blank_values=True):
            if KEY_LIKE.search(name) or QUERY_KEY_NAMES.match(name) or KEY_LIKE_VALUE.search(value):
                found.append(name)
    if not found and KEY_LIKE_VALUE.search(parts.path):
        found.append("path")
    return found


def masked(meta: dict[str, Any]) -> dict[str, Any]:
    """Registry metadata with anything key-like already stored replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: MASK if KEY_LIKE.search(str(k)) and not str(k).endswith("_env") else walk(v)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = dict(meta)
    if isinstance(out.get("params"), dict):
        out["params"] = walk(out["params"])
    base = out.get("api_base")
    if isinstance(base, str) and _has_userinfo(base):
        try:
            parts = urlsplit(base)
            out["api_base"] = urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rsplit('@', 1)[-1]}"))
        except ValueError:
            out["api_base"] = MASK
    base = out.get("api_base")
    if isinstance(base, str) and _query_credentials(base):
        try:
            parts = urlsplit(base)
            out["api_base"] = urlunsplit(parts._replace(query=MASK if parts.query else "",
                                                        fragment=MASK if parts.fragment else ""))  # fmt: skip
            if KEY_LIKE_VALUE.search(parts.path):
                out["api_base"] = MASK
        except ValueError:
            out["api_base"] = MASK
    return out


class RegistryError(ValueError):
    """A model specification that cannot be registered; the message says why."""


@dataclass
class ModelSpec:
    slug: str
    litellm: str
    display: str | None = None
    provider: str | None = None
    active: bool | None = None  # None: keep the current flag (new models start active)
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> ModelSpec:
        if not self.slug or not self.slug.strip() or self.slug != self.slug.strip():
            raise RegistryError(f"model slug {self.slug!r} is empty or has surrounding spaces")
        if not self.litellm or not self.litellm.strip():
            raise RegistryError(f"{self.slug}: litellm model is empty")
        env = self.meta.get("api_key_env")
        if env is not None and not (isinstance(env, str) and ENV_NAME.match(env)):
            raise RegistryError(f"{self.slug}: api_key_env must be an environment variable NAME, got {env!r}")
        for key in ("input_cost_per_token", "output_cost_per_token"):
            value = self.meta.get(key)
            if value is not None and not (_is_number(value) and value >= 0 and math.isfinite(value)):
                raise RegistryError(f"{self.slug}: {key} must be a number >= 0, got {value!r}")
        if ("input_cost_per_token" in self.meta) != ("output_cost_per_token" in self.meta):
            raise RegistryError(f"{self.slug}: give both input_cost_per_token and output_cost_per_token")
        fallbacks = self.meta.get("fallbacks")
        if fallbacks is not None and not (
            isinstance(fallbacks, list) and all(isinstance(s, str) and s for s in fallbacks)
        ):
            raise RegistryError(f"{self.slug}: fallbacks must be a list of model slugs")
        if fallbacks and self.slug in fallbacks:
            raise RegistryError(f"{self.slug}: a model cannot be its own fallback")
        if self.meta.get("params") is not None and not isinstance(self.meta["params"], dict):
            raise RegistryError(f"{self.slug}: params must be a table of completion parameters")
        system = self.meta.get("system_prompt")
        if system is not None and not (isinstance(system, str) and system.strip()):
            raise RegistryError(f"{self.slug}: system_prompt must be a non-empty string")
        samples = self.meta.get("samples")
        if samples is not None and not (isinstance(samples, int) and not isinstance(samples, bool)
                                        and 1 <= samples <= MAX_SAMPLES):  # fmt: skip
            raise RegistryError(f"{self.slug}: samples must be a whole number from 1 to {MAX_SAMPLES}")
        leaked = credential_fields(self.meta)
        if leaked:
            fields = ", ".join(leaked)
            raise RegistryError(
                f"{self.slug}: {fields} would store a credential in the database; keys are never stored: "
                "put the key in an environment variable and name it with api_key_env"
            )
        return self


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def spec_from_mapping(entry: dict[str, Any], where: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: each [[models]] entry must be a table")
    if "api_key" in entry:
        raise RegistryError(f"{where}: API keys are never stored; name the environment variable with api_key_env")
    unknown = sorted(set(entry) - TOML_FIELDS)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(TOML_FIELDS))})")
    for key in ("slug", "litellm"):
        if not isinstance(entry.get(key), str):
            raise RegistryError(f"{where}: {key} (a string) is required")
    if "active" in entry and not isinstance(entry["active"], bool):
        raise RegistryError(f"{where}: active must be true or false")
    meta = {k: entry[k] for k in REGISTRY_KEYS if k in entry}
    spec = ModelSpec(
        slug=entry["slug"], litellm=entry["litellm"], display=entry.get("display"),
        provider=entry.get("provider"), active=entry.get("active"), meta=meta,
    )  # fmt: skip
    try:
        return spec.validate()
    except RegistryError as exc:
        raise RegistryError(f"{where}: {exc}") from exc


def read_models_toml(path: Path) -> list[ModelSpec]:
    """Model specs from a TOML file of `[[models]]` tables (see the README's "Real models")."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path.name}: not valid TOML: {exc}") from exc
    extra = sorted(set(data) - {"models"})
    if extra:
        raise RegistryError(f"{path.name}: unknown top-level key(s) {', '.join(extra)}; expected [[models]] tables")
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path.name}: no [[models]] tables")
    specs = [spec_from_mapping(e, f"{path.name} model {i + 1}") for i, e in enumerate(entries)]
    seen: set[str] = set()
    for spec in specs:
        if spec.slug in seen:
            raise RegistryError(f"{path.name}: model {spec.slug} appears twice")
        seen.add(spec.slug)
    return specs


def upsert_model(session: Session, spec: ModelSpec) -> str:
    """Register or update one model; returns 'added', 'updated', 'unchanged' or 'reconfigured'. Other metadata
    (aliases, ...) and everything that refers to the model (replies, votes, ratings) stay as they are.

    'reconfigured': the spec changes what is called (see canonical_config) of a model that already has replies or
    battles. Those belong to the old configuration, so the old row is retired (renamed `slug@<hash8>`,
    deactivated, `retired_at` set, its replies, battles, votes and ratings kept) and a new row takes the slug,
    `variant_of_id` pointing at it: no vote of one configuration is ever counted for another."""
    model = session.scalar(select(Model).where(Model.slug == spec.slug))
    provider = spec.provider or (spec.litellm.split("/", 1)[0] if "/" in spec.litellm else None)
    digest = config_hash(spec.litellm, spec.meta)
    if model is None:
        model = Model(
            slug=spec.slug, display_name=spec.display or spec.slug, provider=provider, litellm_model=spec.litellm,
            active=True if spec.active is None else spec.active, meta=dict(spec.meta), config_hash=digest,
        )  # fmt: skip
        session.add(model)
        session.flush()
        return "added"
    meta = {k: v for k, v in (model.meta or {}).items() if k not in REGISTRY_KEYS}
    meta.update(spec.meta)
    wanted = {
        "display_name": spec.display or model.display_name,
        "provider": provider,
        "litellm_model": spec.litellm,
        "active": model.active if spec.active is None else spec.active,
        "meta": meta,
        "config_hash": digest,
    }
    if all(getattr(model, k) == v for k, v in wanted.items()):
        return "unchanged"
    if model.config_hash != digest and has_history(session, model.id):
        replace_configuration(session, model, wanted)
        return "reconfigured"
    for key, value in wanted.items():
        setattr(model, key, value)
    session.flush()
    return "updated"


def has_history(session: Session, model_id: int) -> bool:
    """The model has replies or battles, which were made under its current configuration."""
    return bool(
        session.scalar(select(exists().where(Reply.model_id == model_id)))
        or session.scalar(select(exists().where(or_(Battle.model_a_id == model_id, Battle.model_b_id == model_id))))
    )


def retired_slug(session: Session, model: Model) -> str:
    """`slug@<first 8 of its hash>` (`@unhashed` for a model nothing called), made unique with its id if taken."""
    tag = (model.config_hash or "unhashed")[:8]
    slug = f"{model.slug[:190]}@{tag}"
    if session.scalar(select(Model.id).where(Model.slug == slug)) is not None:
        slug = f"{slug}-{model.id}"
    return slug


def replace_configuration(session: Session, old: Model, wanted: dict[str, Any]) -> Model:
    """Retire `old` and open a new row with its slug and the `wanted` columns; aliases move to the new row (they
    name the model, which external benchmarks score as it is now)."""
    slug, now = old.slug, utcnow()
    tag = old.config_hash[:8] if old.config_hash else f"until {now:%Y-%m-%d}"
    old.slug = retired_slug(session, old)
    old.display_name = f"{old.display_name[:180]} [{tag}]"  # the two rows stay apart in charts too
    old.active = False
    old.retired_at = now
    session.flush()  # free the slug before the new row takes it
    new = Model(slug=slug, variant_of_id=old.id, **wanted)
    session.add(new)
    session.flush()
    session.execute(update(ModelAlias).where(ModelAlias.model_id == old.id).values(model_id=new.id))
    return new


def check_fallbacks(session: Session) -> None:
    """Every fallback names a model with a litellm model string."""
    models = {m.slug: m for m in session.scalars(select(Model))}
    for model in models.values():
        for slug in (model.meta or {}).get("fallbacks") or []:
            target = models.get(slug)
            if target is None:
                raise RegistryError(f"{model.slug}: fallback {slug} is not a registered model")
            if not target.litellm_model:
                raise RegistryError(f"{model.slug}: fallback {slug} has no litellm model")


def sync_models(session: Session, specs: list[ModelSpec]) -> dict[str, int]:
    """Register every spec (in the caller's transaction: all of them or, on an error, none). Models not in the
    file are left alone."""
    counts = {"added": 0, "updated": 0, "unchanged": 0, "reconfigured": 0}
    for spec in specs:
        counts[upsert_model(session, spec)] += 1
    check_fallbacks(session)
    return counts


def set_active(session: Session, slug: str, active: bool) -> bool:
    """Activate or deactivate a model (its replies, votes and ratings are kept); returns whether it changed."""
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is None:
        raise RegistryError(f"no model {slug}")
    if active and model.retired_at is not None:
        raise RegistryError(
            f"{slug} is a retired configuration (retired {model.retired_at:%Y-%m-%d}): its replies are never drawn "
            "again; register the configuration anew to open a new row"
        )
    changed = model.active != active
    model.active = active
    return changed


def describe(model: Model, variant_of: str | None = None) -> dict[str, Any]:
    """A model as `arena models list --json` shows it (the key variable's name, never its value), with its
    provenance: configuration hash and the canonical configuration it hashes, the row it replaced, when it was
    retired."""
    meta = masked(model.meta or {})
    return {
        "slug": model.slug,
        "display_name": model.display_name,
        "provider": model.provider,
        "litellm_model": model.litellm_model,
        "active": model.active,
        **{k: meta.get(k) for k in REGISTRY_KEYS},
        "config_hash": model.config_hash,
        "config": canonical_config(model.litellm_model, masked(model.meta or {})),
        "variant_of": variant_of,
        "retired_at": model.retired_at.isoformat() if model.retired_at is not None else None,
        "created_at": model.created_at.isoformat() if model.created_at is not None else None,
    }


def list_models(session: Session) -> list[dict[str, Any]]:
    models = list(session.scalars(select(Model).order_by(Model.slug)))
    slugs = {m.id: m.slug for m in models}
    return [describe(m, slugs.get(m.variant_of_id)) for m in models]


def list_models_by_id(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """list_models() with each model's row id (to join provenance measured elsewhere)."""
    models = list(session.scalars(select(Model).order_by(Model.slug)))
    slugs = {m.id: m.slug for m in models}
    return [(m.id, describe(m, slugs.get(m.variant_of_id))) for m in models]
