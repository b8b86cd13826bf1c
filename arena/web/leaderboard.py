"""The leaderboard page: the latest snapshot per category, tabs switched with htmx, charts as inline SVG."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup

from arena.jobs.leaderboard import PROVISIONAL_BATTLES, TABS, BoardSnapshot, snapshot
from arena.jobs.snapshots import (
    COMPOSITE,
    CONVERSATIONS,
    OVERALL,
    SINGLE_TURN,
    NoSuchBoard,
    RecomputeError,
    newest_run_id,
)
from arena.voting.moderation import count_votes
from arena.web import htmx, read_session
from arena.web.charts import heatmap, responsive_whiskers

bp = Blueprint("leaderboard", __name__)

# The heatmap stays legible up to this many models (the best ones by rating).
HEATMAP_MODELS = 20


def _charts(board: BoardSnapshot):
    whiskers = responsive_whiskers([(r.name, r.rating, r.ci_low, r.ci_high) for r in board.rows])
    top = [r.slug for r in board.rows[:HEATMAP_MODELS]]
    index = {slug: k for k, slug in enumerate(board.matrix_slugs)}
    names = {r.slug: r.name for r in board.rows}
    if not all(slug in index for slug in top):
        return whiskers, None
    order = [index[slug] for slug in top]
    rates = [[board.pair_win_rate[i][j] for j in order] for i in order]
    battles = [[board.pair_battles[i][j] for j in order] for i in order]
    return whiskers, heatmap([names[s] for s in top], rates, battles)


# The boards by how much of a conversation the voter saw, as the board choice names them.
BOARD_NAMES = {
    OVERALL: "All votes",
    CONVERSATIONS: "Conversations",
    SINGLE_TURN: "Single replies",
    COMPOSITE: "Votes and judges",
}
FIRST_VOTES_NAME = "First vote of each session"


def _title(board: BoardSnapshot) -> str:
    if board.order == "first":
        return f"Overall, {FIRST_VOTES_NAME.lower()}"
    if board.category == OVERALL:
        return "Overall"
    return BOARD_NAMES.get(board.category, board.category)


def _label(board: BoardSnapshot | None, category: str, order: str) -> str | None:
    """The board a page (its title, description and pushed address) names; None for the overall board."""
    if board is not None:
        title = _title(board)
        return None if title == "Overall" else title
    if order == "first":
        return f"Overall, {FIRST_VOTES_NAME.lower()}"
    return None if category == OVERALL else BOARD_NAMES.get(category, category)


class RenderedBoards:
    """Boards rendered per worker: a stored run never changes, and rendering one of 200 models (its rows and two
    whisker charts) costs about 150 ms of CPU, reading it another 30 ms. Keyed by the newest run's id (any new run
    renders afresh) and kept for `seconds`, so a model renamed since still shows within that time."""

    def __init__(self, seconds: float = 60.0, boards: int = 256) -> None:
        self._seconds = seconds
        self._boards = boards
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()

    def get(self, key: tuple) -> dict | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple, parts: dict) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self._seconds, parts)
            self._entries.move_to_end(key)
            while len(self._entries) > self._boards:
                self._entries.popitem(last=False)


def _board_parts(session, category: str, order: str) -> dict:
    """The board's rendered partial and the names the page around it needs."""
    provisional_votes = current_app.extensions["arena.settings"].provisional_votes
    try:
        board = snapshot(session, category, provisional_votes, order)
    except NoSuchBoard as exc:
        abort(404, description=str(exc))
    except RecomputeError as exc:
        abort(400, description=str(exc))
    whiskers, heat = _charts(board) if board else (None, None)
    context = dict(board=board, tabs=TABS, category=board.category if board else category, whiskers=whiskers,
                   heat=heat, provisional_below=PROVISIONAL_BATTLES, provisional_votes=provisional_votes,
                   order=order, board_names=BOARD_NAMES, first_votes_name=FIRST_VOTES_NAME,
                   title=_title(board) if board else None)  # fmt: skip
    if board is None:
        context["votes"] = count_votes(session)
    context["board_label"] = _label(board, category, order)
    return {"board_html": Markup(render_template("leaderboard/_board.html", **context)), "board": board,
            "title": context["title"], "board_label": context["board_label"]}  # fmt: skip


@bp.get("/leaderboard")
def leaderboard():
    category = request.args.get("category", OVERALL)
    order = request.args.get("order", "all")
    session = read_session()
    newest = newest_run_id(session)
    rendered = current_app.extensions.setdefault("arena.rendered_boards", RenderedBoards())
    key = (newest, category, order)
    parts = rendered.get(key) if newest is not None else None
    if parts is None:
        parts = _board_parts(session, category, order)
        if parts["board"] is not None:
            rendered.put(key, parts)
    if htmx:
        # str() first: a str plus a Markup would escape the str.
        return render_template("leaderboard/_swap_title.html", **parts) + str(parts["board_html"])
    return render_template("leaderboard/page.html", **parts)
