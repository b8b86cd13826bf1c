"""The report's tables, read generically from what the API serves: every estimate with a 95% interval found
anywhere in an analysis result, a board or the repeat measures, and every list of records as a table. Nothing
here names a study: a new kind of effect stored in the analysis JSON (arms, edits, reasons, ...) appears in the
report without a change here, as long as it says its interval the way the others do."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

# The figure an interval belongs to, in the order a row names it (the first present wins).
ESTIMATE_KEYS = ("estimate", "log_odds", "value", "rating", "win_chance", "win_rate", "rate", "share", "propensity",
                 "effect", "points")  # fmt: skip
# What names a row of a list: the fields joined, in this order.
NAME_KEYS = ("feature", "key", "arm", "dimension", "edit", "reason", "mediator", "side", "benchmark", "snapshot",
             "method", "model", "turns", "category")  # fmt: skip


@dataclass(frozen=True)
class Measure:
    """One estimate with its interval: where it is in the API's JSON (a JSON pointer to its record and the
    record's fields holding estimate, low and high; `ci/0` is the first item of a `ci` list) and its values."""

    pointer: str
    section: str
    name: str
    fields: tuple[str, str, str]
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    extra: dict = field(default_factory=dict)


@dataclass
class Table:
    """A table as the report prints it and its CSV holds it: `rows` keep the API's values untouched."""

    name: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""


def escape_pointer(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def resolve(document, pointer: str):
    """The value a JSON pointer (RFC 6901) names in `document`."""
    value = document
    for part in pointer.split("/")[1:] if pointer else ():
        part = part.replace("~1", "/").replace("~0", "~")
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _has_interval(record: dict, key: str) -> bool:
    return any(f"{key}{end}" in record for end in ("_low", "_ci_low"))


def interval_fields(record: dict) -> list[tuple[str, str, str]]:
    """(estimate, low, high) field triples of a record: `ci_low`/`ci_high` (or a `ci` pair) with the first
    estimate that has no interval of its own; `X` with `X_low`/`X_high` or `X_ci_low`/`X_ci_high`; and a
    `P_ci_low`/`P_ci_high` pair with no `P` beside `P_<something>` (edits' `effect_points`, `effect_ci_low`)."""
    found = []
    estimate = next((k for k in ESTIMATE_KEYS if k in record and _number(record[k]) and not _has_interval(record, k)),
                    None)  # fmt: skip
    if estimate is not None and _number(record.get("ci_low", "")) and _number(record.get("ci_high", "")):
        found.append((estimate, "ci_low", "ci_high"))
    ci = record.get("ci")
    if estimate is not None and isinstance(ci, list) and len(ci) == 2 and all(_number(v) for v in ci):
        found.append((estimate, "ci/0", "ci/1"))
    for key, value in record.items():
        if not _number(value):
            continue
        for low, high in ((f"{key}_low", f"{key}_high"), (f"{key}_ci_low", f"{key}_ci_high")):
            if low in record and high in record and _number(record[low]) and _number(record[high]):
                found.append((key, low, high))
    for key in record:
        stem = key.removesuffix("_ci_low")
        if stem == key or not stem or stem in record or f"{stem}_ci_high" not in record:
            continue
        bounds = ("_low", "_high", "_se")
        named = [k for k in record if k.startswith(stem + "_") and not k.endswith(bounds) and _number(record[k])]
        if named:
            found.append((named[0], key, f"{stem}_ci_high"))
    return found


def _field(record: dict, name: str):
    return resolve(record, "/" + name)


def _name(record: dict, fields: tuple[str, str, str], several: bool, fallback: str) -> str:
    named = [str(record[k]) for k in NAME_KEYS if isinstance(record.get(k), (str, int)) and k not in fields]
    if several or not named and fields[0] not in ESTIMATE_KEYS:
        named.append(fields[0])
    if named:
        return " / ".join(named)
    if not fallback.isdigit():  # a record under a key of its own (reliability's `agreement`): the key names it
        return fallback
    # A record named by nothing but its numbers (a bin of a histogram): its other short figures.
    others = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
              if isinstance(v, (int, float, str)) and not isinstance(v, bool) and k not in fields
              and not k.startswith(("ci", "se"))][:3]  # fmt: skip
    return ", ".join(others) or fallback


def _section(pointer: str) -> str:
    """The record's place without list indices: `result/coefficients`, `reliability/agreement`."""
    parts = [p for p in pointer.split("/")[1:] if not p.isdigit()]
    return "/".join(parts) or "(top)"


def measures(document, pointer: str = "", skip: tuple[str, ...] = (), owner: str = "") -> list[Measure]:
    """Every estimate with an interval in `document`, in document order; keys in `skip` are not entered. A record
    inside a record of a list is named after it too (a model's rate of one reason: `m1 / felt_heard`)."""
    out: list[Measure] = []
    if isinstance(document, dict):
        triples = interval_fields(document)
        for triple in triples:
            fallback = pointer.rsplit("/", 1)[-1] or "(top)"
            name = _name(document, triple, len(triples) > 1, fallback)
            out.append(Measure(
                pointer=pointer, section=_section(pointer), name=f"{owner} / {name}" if owner else name,
                fields=triple, estimate=_field(document, triple[0]), ci_low=_field(document, triple[1]),
                ci_high=_field(document, triple[2]),
                extra={k: document[k] for k in ("se", "scale", "n", "battles") if k in document},
            ))  # fmt: skip
        named = [str(document[k]) for k in NAME_KEYS if isinstance(document.get(k), (str, int))]
        inner = " / ".join(([owner] if owner else []) + named[:1]) if pointer.rsplit("/", 1)[-1].isdigit() else owner
        for key, value in document.items():
            if key not in skip and isinstance(value, (dict, list)):
                out += measures(value, f"{pointer}/{escape_pointer(key)}", owner=inner)
    elif isinstance(document, list):
        for k, value in enumerate(document):
            out += measures(value, f"{pointer}/{k}", owner=owner)
    return out


def grouped_record_lists(document) -> list[tuple[str, list[tuple[str | None, list[dict]]]]]:
    """The lists of records grouped by their place without list indices: a list inside each record of another
    (each explanation's calibration bins) makes one table, each part named by the record it belongs to."""
    groups: dict[str, list[tuple[str | None, list[dict]]]] = {}
    for pointer, records in record_lists(document):
        parent_pointer = pointer.rsplit("/", 1)[0]
        parent = resolve(document, parent_pointer) if parent_pointer else None
        nested = parent_pointer.rsplit("/", 1)[-1].isdigit() and isinstance(parent, dict)
        owner = _name(parent, ("", "", ""), False, parent_pointer.rsplit("/", 1)[-1]) if nested else None
        groups.setdefault(_section(pointer), []).append((owner, records))
    return list(groups.items())


def record_lists(document, pointer: str = "", skip: tuple[str, ...] = ()) -> list[tuple[str, list[dict]]]:
    """Every non-empty list of records (dicts) in `document`: (JSON pointer, records)."""
    found: list[tuple[str, list[dict]]] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key not in skip:
                found += record_lists(value, f"{pointer}/{escape_pointer(key)}")
    elif isinstance(document, list):
        if document and all(isinstance(v, dict) for v in document):
            found.append((pointer, document))
        for k, value in enumerate(document):
            found += record_lists(value, f"{pointer}/{k}")
    return found


def flat(record: dict) -> dict:
    """A record as one CSV row: scalars as they are, a pair of numbers as `X_low`/`X_high`, anything else as
    JSON text."""
    row = {}
    for key, value in record.items():
        if isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value):
            row[f"{key}_low"], row[f"{key}_high"] = value
        elif isinstance(value, (dict, list)):
            row[key] = json.dumps(value, sort_keys=True)
        else:
            row[key] = value
    return row


def table_of(name: str, title: str, records: list[dict], leading: dict | None = None, note: str = "") -> Table:
    """Records as a table, columns in the order they first appear."""
    flats = [{**(leading or {}), **flat(r)} for r in records]
    columns: list[str] = []
    for row in flats:
        columns += [k for k in row if k not in columns]
    return Table(name, title, columns, [[row.get(c) for c in columns] for row in flats], note)


def csv_cell(value) -> str:
    """A value as the CSV holds it: numbers exactly as the API serves them (repr round-trips a float), true and
    false as JSON spells them, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return str(value)


def shown(value) -> str:
    """A value as the HTML and Markdown tables show it: floats to 3 decimals (the precision the API rounds
    ratings to); the CSV files hold the full values."""
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else ""
    return csv_cell(value)
