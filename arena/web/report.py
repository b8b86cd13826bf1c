"""`arena analysis report`: one rating run and its analyses as a self-contained HTML page, the same in Markdown,
and CSV tables. Every number is read from what the API serves for that run (the board's `as_json`, the stored
analysis, the run's repeat measures), so the report and /api never disagree; the files are written into a
temporary directory beside the target and moved into place whole."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.config import PROJECT_ROOT
from arena.jobs.export import import_entry
from arena.jobs.leaderboard import PROVISIONAL_VOTES, snapshot
from arena.jobs.snapshots import (
    OVERALL,
    RecomputeError,
    analyses_of,
    analysis_json,
    latest_reliability,
    latest_run,
    latest_summary,
)
from arena.models import Battle, ImportedFile, RatingRun, Vote, utcnow
from arena.web.charts import Responsive, responsive_whiskers
from arena.web.report_methods import (
    analysis_methods,
    board_label,
    card_facts,
    rating_methods,
    reproduce_commands,
)
from arena.web.report_tables import (
    Measure,
    Table,
    csv_cell,
    grouped_record_lists,
    measures,
    shown,
    table_of,
)
from arena.web.study import effects, fmt_points

# The report reuses the pages' own words and charts (arena.web.study, arena.web.charts), so its sentences and
# figures are /analysis's and the leaderboard's.
# The columns the page shows of a board (the CSV has every field the API serves).
BOARD_SHOWN = ("rank_ub", "model", "rating", "ci_low", "ci_high", "rank_ci_low", "rank_ci_high", "battles",
               "win_rate", "provisional")  # fmt: skip
EFFECT_COLUMNS = ("source", "category", "section", "effect", "estimate", "ci_low", "ci_high", "se", "scale", "n",
                  "points", "points_low", "points_high", "api", "pointer", "fields")  # fmt: skip
# Parts of a run's summary the API serves (the board's position, ties, sessions, ...; /api/reliability,
# /api/reasons) or that hold no estimate; the report reads anything else in the summary generically.
SUMMARY_SERVED = ("position", "ties", "reliability", "reasons", "provenance", "components", "boards", "sessions",
                  "voters", "warnings", "grounded", "composite", "scope", "pooling")  # fmt: skip
# The analysis's covariate prior (arena.jobs.analysis.BETA_PRIOR), stated here without importing the fit.
BETA_PRIOR = 1.0


class ReportError(ValueError):
    """The report cannot be made or written; the message says why."""


@dataclass
class Figure:
    name: str
    title: str
    chart: Responsive


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


@dataclass
class Report:
    run_id: int
    title: str
    generated: str
    sections: list[Section]
    # Every CSV file: tables written in full, with the API's values.
    csv_tables: list[Table]
    # What /api serves for this run, by path: the report's only source of numbers.
    api: dict[str, dict]
    analysis_run_ids: list[int]


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.casefold()).split()) or "x"


def _facts(session: Session) -> dict:
    battles, counted, first, last = session.execute(
        select(
            func.count(),
            func.count().filter(Vote.counts_for_leaderboard.is_(True)),
            func.min(Vote.created_at),
            func.max(Vote.created_at),
        )  # fmt: skip
    ).one()
    imported = session.scalar(
        select(func.count()).select_from(Vote).join(Battle, Battle.id == Vote.battle_id)
        .where(Battle.source == "import")
    )  # fmt: skip
    models = set(session.scalars(select(Vote.model_a_id).distinct()))
    models |= set(session.scalars(select(Vote.model_b_id).distinct()))
    prompts = session.scalar(
        select(func.count(func.distinct(Battle.prompt_id))).select_from(Vote).join(Battle, Battle.id == Vote.battle_id)
    )
    files = list(session.scalars(select(ImportedFile).order_by(ImportedFile.id)))
    not_anonymous = sum(((f.meta or {}).get("anony") or {}).get("false") or 0 for f in files)
    return {
        "battles": battles, "counted": counted, "models": len(models), "prompts": prompts or 0, "imported": imported,
        "site": battles - imported, "not_anonymous": not_anonymous,
        "first_vote": first.strftime("%Y-%m-%d %H:%M") if first else None,
        "last_vote": last.strftime("%Y-%m-%d %H:%M") if last else None,
        "files": files,
    }  # fmt: skip


def _boards(session: Session, run: RatingRun, provisional_votes: int) -> dict[str, dict]:
    """API path -> the board as /api/leaderboard?run=&category= serves it, for every board of the run that the
    API can serve by run (the first-vote board is read by order, not by run)."""
    out = {}
    for board in run.params.get("categories", [OVERALL]):
        try:
            found = snapshot(session, board, provisional_votes, run_id=run.id)
        except RecomputeError:
            continue
        if found is not None:
            out[f"/api/leaderboard?{urlencode({'run': run.id, 'category': board})}"] = found.as_json()
    return out


def _effect_row(source: str, category: str, api: str, m: Measure, points: dict) -> dict:
    extra = m.extra
    converted = points.get(m.pointer) if m.section == "result/coefficients" else None
    return {
        "source": source, "category": category, "section": m.section, "effect": m.name, "estimate": m.estimate,
        "ci_low": m.ci_low, "ci_high": m.ci_high, "se": extra.get("se"), "scale": extra.get("scale"),
        "n": extra.get("n", extra.get("battles")),
        **dict(zip(("points", "points_low", "points_high"), converted or (None, None, None), strict=True)),
        "api": api, "pointer": m.pointer, "fields": ",".join(m.fields),
    }  # fmt: skip


def _coefficient_points(analysis: dict) -> dict[str, tuple[float, float, float]]:
    """Pointer of each coefficient -> its effect in points of winning chance, as /analysis converts it
    (arena.web.study), rounded to hundredths of a point."""
    by_feature = {e.feature: e for e in effects(analysis["result"])}
    out = {}
    for k, c in enumerate(analysis["result"].get("coefficients", [])):
        e = by_feature.get(c["feature"])
        if e is not None and e.points is not None:
            out[f"/result/coefficients/{k}"] = (round(e.points, 2), round(e.low, 2), round(e.high, 2))
    return out


def _record_tables(prefix: str, title: str, document) -> list[Table]:
    """Every list of records in `document` as a table; lists nested in the records of another make one table,
    its first column (`of`) naming the record each row belongs to."""
    tables = []
    for section, parts in grouped_record_lists(document):
        rows = [({"of": owner} if owner is not None else {}, r) for owner, records in parts for r in records]
        table = table_of(f"{prefix}-{_slug(section)}", f"{title}{section}", [r for _, r in rows])
        if any(lead for lead, _ in rows):
            table.columns.insert(0, "of")
            for (lead, _), row in zip(rows, table.rows, strict=True):
                row.insert(0, lead.get("of"))
        tables.append(table)
    return tables


def _board_section(boards: dict[str, dict]) -> tuple[Section, Table]:
    section = Section("leaderboards", "Leaderboards")
    records = []
    for board in boards.values():
        records += [{"board": board["category"], "run_id": board["run_id"], **r} for r in board["ratings"]]
    full = table_of("leaderboard", "Every board, every model (all fields /api/leaderboard serves)", records)
    overall = next((b for b in boards.values() if b["category"] == OVERALL), None)
    if overall is not None:
        chart = responsive_whiskers([(r["model"], r["rating"], r["ci_low"], r["ci_high"]) for r in overall["ratings"]])
        if chart is not None:
            section.figures.append(Figure("board-overall", "Overall ratings with 95% intervals", chart))
    for board in boards.values():
        shown_rows = table_of(f"board-{_slug(board['category'])}", f"Board: {board_label(board['category'])} "
                              f"({board['n_votes']:,} votes, {board['ci']} intervals)", board["ratings"])  # fmt: skip
        columns = [c for c in BOARD_SHOWN if c in shown_rows.columns]
        index = [shown_rows.columns.index(c) for c in columns]
        section.tables.append(Table(shown_rows.name, shown_rows.title, columns,
                                    [[row[i] for i in index] for row in shown_rows.rows]))  # fmt: skip
    section.paragraphs.append(f"{len(boards)} board(s) of this run; `leaderboard.csv` has every field "
                              "/api/leaderboard serves for each, per model.")  # fmt: skip
    return section, full


def _effects_section(analysis: dict, measured: list[dict]) -> Section:
    category = analysis["category"]
    section = Section(f"effects-{_slug(category)}", f"Effects: {category} (analysis run {analysis['analysis_run_id']})")
    found = effects(analysis["result"])
    section.bullets = [e.sentence for e in found]
    chart = responsive_whiskers(
        [(e.short, e.points, e.low, e.high) for e in found if e.points is not None],
        axis_label="Change in the chance of winning, percentage points, for a typical difference or yes against no",
        reference=0.0, fmt="{:+.0f}",
    )  # fmt: skip
    if chart is not None:
        section.figures.append(Figure(f"effects-{_slug(category)}", f"Effects on the chance of winning ({category})",
                                      chart))  # fmt: skip
    coefficients = {c["feature"]: c for c in analysis["result"].get("coefficients", [])}
    rows = []
    for e in found:
        c = coefficients[e.feature]
        points = None if e.points is None else f"{fmt_points(e.points)} ({fmt_points(e.low)} to {fmt_points(e.high)})"
        rows.append([e.short, e.meaning, c.get("scale"), points, c.get("estimate"), c.get("ci_low"), c.get("ci_high"),
                     c.get("estimate_std"), e.reason])  # fmt: skip
    if rows:
        section.tables.append(Table(
            f"coefficients-{_slug(category)}", "Covariate effects (log-odds per unit; points of winning chance)",
            ["effect", "what it measures", "scale", "points (95% interval)", "log-odds", "ci_low", "ci_high",
             "log-odds per SD", "not measured because"], rows,
        ))  # fmt: skip
    # Every other estimate with an interval that this analysis stored, whatever study added it.
    groups: dict[str, list[dict]] = {}
    for row in measured:
        if row["section"] != "result/coefficients":
            groups.setdefault(row["section"], []).append(row)
    for name, group in groups.items():
        shown_name = name.removeprefix("result/")
        section.tables.append(Table(
            f"estimates-{_slug(category)}-{_slug(name)}", f"Estimates with 95% intervals: {shown_name}",
            ["effect", "estimate", "ci_low", "ci_high", "n"],
            [[r["effect"], r["estimate"], r["ci_low"], r["ci_high"], r["n"]] for r in group],
        ))  # fmt: skip
    return section


def build(session: Session, run_id: int | None = None, provisional_votes: int = PROVISIONAL_VOTES,
          out_name: str = "report") -> Report:  # fmt: skip
    """Read the run (the newest complete overall run by default), its boards, analyses and repeat measures."""
    run = latest_run(session, OVERALL) if run_id is None else session.get(RatingRun, run_id)
    if run is None:
        raise ReportError("no rating run yet: run `arena ratings recompute` first" if run_id is None
                          else f"no rating run {run_id}")  # fmt: skip
    boards = _boards(session, run, provisional_votes)
    analyses = [analysis_json(a) for a in analyses_of(session, run.id)]
    reliability = latest_reliability(session, run.id)
    summary = run.summary or {}
    api: dict[str, dict] = dict(boards)
    effect_rows: list[dict] = []
    overall_path = next((p for p, b in boards.items() if b["category"] == OVERALL), None)
    if overall_path is not None:
        # Position and tie figures are the run's, shown on every board: read once, from the overall board.
        for m in measures(boards[overall_path], skip=("ratings",)):
            effect_rows.append(_effect_row("rating run", OVERALL, overall_path, m, {}))
    measured_by_analysis = {}
    for analysis in analyses:
        path = f"/api/analysis?run={analysis['analysis_run_id']}"
        api[path] = analysis
        points = _coefficient_points(analysis)
        rows = [_effect_row("analysis", analysis["category"], path, m, points) for m in measures(analysis)]
        measured_by_analysis[analysis["analysis_run_id"]] = rows
        effect_rows += rows
    reliability_path = f"/api/reliability?run={run.id}"
    reliability_table = None
    if reliability and reliability.get("reliability"):
        api[reliability_path] = reliability
        rows = [_effect_row("repeats", OVERALL, reliability_path, m, {}) for m in measures(reliability)]
        effect_rows += rows
        reliability_table = Table(
            "reliability",
            "How far people agree (repeated battles)",
            ["measure", "n", "value", "ci_low", "ci_high"],
            [[r["effect"], r["n"], r["estimate"], r["ci_low"], r["ci_high"]] for r in rows],
        )
    reasons_path = f"/api/reasons?run={run.id}"
    reasons = latest_summary(session, "reasons", run.id)
    reason_rows, reason_tables = [], []
    if reasons and reasons.get("reasons"):
        api[reasons_path] = reasons
        reason_rows = [_effect_row("reasons", OVERALL, reasons_path, m, {}) for m in measures(reasons)]
        effect_rows += reason_rows
        reason_tables = _record_tables("reasons", "Why people voted: ", reasons["reasons"])
    # What else the run's summary measured that no API above serves (another study's figures): read from the
    # stored snapshot, `api` empty and `pointer` into the run's summary.
    extras = {k: v for k, v in summary.items() if k not in SUMMARY_SERVED}
    extra_rows = [_effect_row("rating run summary", OVERALL, "", m, {}) for m in measures(extras)]
    effect_rows += extra_rows
    facts = _facts(session)
    generated = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    board_section, board_table = _board_section(boards)
    effects_table = Table("effects", "Every estimate with its 95% interval", list(EFFECT_COLUMNS),
                          [[r[c] for c in EFFECT_COLUMNS] for r in effect_rows],
                          note="`api` and `pointer` say where /api serves each number (a JSON pointer into that "
                          "response; empty `api`: the run's stored summary); `fields` names the estimate, low and "
                          "high fields of the record.")  # fmt: skip
    csv_tables = [board_table, effects_table]
    analysis_tables = []
    for analysis in analyses:
        analysis_tables += _record_tables(f"analysis-{_slug(analysis['category'])}", f"{analysis['category']}: ",
                                          analysis["result"])  # fmt: skip
    csv_tables += analysis_tables
    if reliability_table is not None:
        csv_tables.append(reliability_table)
        csv_tables += _record_tables("reliability", "Repeats: ", reliability["reliability"])
    csv_tables += reason_tables
    summary_tables = _record_tables("run", "The run's summary: ", extras)
    csv_tables += summary_tables
    imports = [import_entry(f) for f in facts["files"]]
    import_table = Table("imported-files", "Imported files (provenance)",
                         ["kind", "file_name", "sha256", "rows", "imported", "source", "date", "anony_true",
                          "anony_false", "anony_absent"],
                         [[f[k] for k in ("kind", "file_name", "sha256", "rows", "imported", "source", "date",
                                          "anony_true", "anony_false", "anony_absent")] for f in imports])  # fmt: skip
    csv_tables.append(import_table)

    ids = Section("snapshot", "Snapshot", tables=[Table("ids", "What reproduces these numbers", ["item", "value"], [
        ["rating run (snapshot id)", run.id], ["status", run.status],
        ["computed at", run.finished_at.isoformat() if run.finished_at else None],
        ["code version", run.code_version], ["seed", run.seed], ["counted votes (overall board)", run.n_votes],
        *[[f"analysis run ({a['category']})", f"{a['analysis_run_id']} (code {a['code_version']}, seed "
           f"{a['params'].get('seed')})"] for a in analyses],
        ["report generated", generated],
    ])])  # fmt: skip
    methods = Section("methods", "Methods", paragraphs=rating_methods(run, summary, list(run.params.get(
        "categories", [OVERALL]))))  # fmt: skip
    for k, analysis in enumerate(analyses):
        methods.paragraphs += analysis_methods(analysis, BETA_PRIOR, first=k == 0)
    if not analyses:
        methods.paragraphs.append(f"No analysis of this rating run is stored: run `arena analysis eq --rating-run "
                                  f"{run.id}` for the effects.")  # fmt: skip
    sources = sorted({f["source"] for f in imports if f["source"] != "not given"})
    feature_set = analyses[0]["feature_set"] if analyses else "-"
    facts_table = Table("facts", "The votes in the database when the report was made", ["fact", "value"],
                        [list(r) for r in card_facts({**facts, "feature_set": feature_set})])  # fmt: skip
    data = Section("data", "Data", tables=[facts_table])
    data.paragraphs.append(
        "People read an emotional message and two anonymous model replies, and voted for the one they would rather "
        "receive (or a tie, or both bad); model names were shown only after the vote. Imported battles keep the "
        "fields they came with."
    )
    if imports:
        data.tables.append(import_table)
        cited = "; ".join(sources) if sources else "none was given (`arena import FILE --source TEXT` records one)"
        data.paragraphs.append(f"Cite the sources of the imported files: {cited}.")
    else:
        data.paragraphs.append("No file was imported with `arena import votes|replies`: every vote was cast here.")
    data.paragraphs.append(f"Cite these numbers as: EQ Arena rating run {run.id} (code {run.code_version}, seed "
                           f"{run.seed}), report generated {generated}; `arena export` gives the votes and a "
                           "dataset card.")  # fmt: skip
    sections = [ids, methods, data, board_section]
    for analysis in analyses:
        sections.append(_effects_section(analysis, measured_by_analysis[analysis["analysis_run_id"]]))
    if overall_path is not None:
        run_rows = [r for r in effect_rows if r["source"] == "rating run"]
        if run_rows:
            sections.append(Section("run-estimates", "Position and ties (the run's own estimates)", tables=[Table(
                "run-estimates", "Side A's share of decisive votes, the side-shown-first coefficient, tie propensity",
                ["effect", "estimate", "ci_low", "ci_high"],
                [[r["effect"], r["estimate"], r["ci_low"], r["ci_high"]] for r in run_rows])]))  # fmt: skip
    if reliability_table is not None:
        sections.append(Section("agreement", "How far people agree", tables=[reliability_table]))
    if reason_rows:
        sections.append(Section("reasons", "Why people voted (optional reasons after the vote)", tables=[Table(
            "reasons-estimates", "Share of each model's replies tagged with a reason, with 95% intervals",
            ["effect", "estimate", "ci_low", "ci_high"],
            [[r["effect"], r["estimate"], r["ci_low"], r["ci_high"]] for r in reason_rows],
        ), *reason_tables]))  # fmt: skip
    if extra_rows:
        sections.append(Section("run-summary", "Other estimates of the run", tables=[Table(
            "run-summary-estimates", "Estimates with 95% intervals stored in the run's summary",
            ["section", "effect", "estimate", "ci_low", "ci_high", "n"],
            [[r["section"], r["effect"], r["estimate"], r["ci_low"], r["ci_high"], r["n"]] for r in extra_rows],
        ), *summary_tables]))  # fmt: skip
    if analysis_tables:
        sections.append(Section("analysis-tables", "Every table of the analysis", tables=analysis_tables,
                                paragraphs=["As the analysis stored them (also in the CSV files named)."]))  # fmt: skip
    sections.append(Section("reproduce", "Reproduce", paragraphs=[
        f"On a database holding the same votes, with the code at version {run.code_version}: these commands "
        "recompute the snapshot with the same parameters and seed (RUN: the new run's id) and its analyses, then "
        "this report. The numbers served for this run: " + ", ".join(f"`{p}`" for p in api) + "."],
        code=reproduce_commands(run, analyses, out_name)))  # fmt: skip
    sections.append(Section("files", "Files", bullets=[f"`{t.name}.csv`: {t.title}" for t in csv_tables]))
    title = f"EQ Arena report: rating run {run.id}"
    return Report(run.id, title, generated, sections, csv_tables, api, [a["analysis_run_id"] for a in analyses])


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(PROJECT_ROOT / "templates")),
                      autoescape=select_autoescape(["html", "svg"]), keep_trailing_newline=True)  # fmt: skip
    env.filters["shown"] = shown
    env.filters["md_cell"] = lambda v: shown(v).replace("|", "\\|").replace("\n", " ")
    return env


def render(report: Report) -> dict[str, str]:
    """File name (relative to the report's directory) -> text."""
    env = _environment()
    files = {
        "report.html": env.get_template("report/report.html").render(report=report),
        "report.md": env.get_template("report/report.md").render(report=report),
    }
    svg = env.get_template("report/figure.svg")
    for section in report.sections:
        for figure in section.figures:
            files[f"figures/{figure.name}.svg"] = svg.render(c=figure.chart.wide, label=figure.title)
    for table in report.csv_tables:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([csv_cell(v) for v in row] for row in table.rows)
        files[f"{table.name}.csv"] = out.getvalue()
    return files


def _write_files(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write(report: Report, out_dir: Path) -> list[str]:
    """Write the report into `out_dir` whole or not at all: into a new directory beside it, then moved into
    place (a previous report there is replaced; any other non-empty directory is refused)."""
    if out_dir.is_symlink():
        raise ReportError(f"{out_dir} is a symbolic link; the report never writes through one")
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "report.html").is_file():
        raise ReportError(f"{out_dir} is not empty and holds no earlier report; name a new or empty directory")
    files = render(report)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        _write_files(staging, files)
        os.chmod(staging, 0o755)
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(files)


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    previous = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.previous")
    out_dir.rename(previous)
    try:
        staging.rename(out_dir)
    except BaseException:
        previous.rename(out_dir)
        raise
    shutil.rmtree(previous, ignore_errors=True)
