"""Migration 0023 (board matrices), both backends: a stored run's per-board matrices move from the run's column to
one row per board, unchanged, and a downgrade puts them back."""

from __future__ import annotations

from sqlalchemy import text

from arena.db import make_engine, make_session_factory
from arena.jobs.snapshots import board_matrices
from arena.migrate import downgrade, upgrade

BOARDS = {
    "overall": {"model_ids": [3, 1], "battles": [[0, 7], [7, 0]], "win_rate": [[None, 0.25], [0.75, None]],
                "votes_to_flip_above": [None, 4]},
    "Sadness": {"model_ids": [1, 3], "battles": [[0, 2], [2, 0]], "win_rate": [[None, 0.5], [0.5, None]]},
}  # fmt: skip


def test_a_runs_boards_move_to_their_own_rows_and_back(empty_database_url):
    import json

    engine = make_engine(empty_database_url)
    upgrade(engine, "0022_jobs")
    with engine.begin() as conn:
        for run_id, boards in ((1, BOARDS), (2, {})):
            conn.execute(text("INSERT INTO rating_run (id, started_at, finished_at, status, params, seed, "
                              "code_version, n_votes, matrices, summary) VALUES (:id, CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP, 'complete', '{}', 0, 'test', 7, :matrices, '{}')"),
                         {"id": run_id, "matrices": json.dumps(boards)})  # fmt: skip
    upgrade(engine)
    with make_session_factory(engine)() as s:
        assert {c: board_matrices(s, 1, c) for c in BOARDS} == BOARDS
        assert board_matrices(s, 2, "overall") == {} and board_matrices(s, 1, "Joy") == {}
    downgrade(engine, "0022_jobs")
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, matrices FROM rating_run ORDER BY id")).all())
    assert {k: v if isinstance(v, dict) else json.loads(v) for k, v in stored.items()} == {1: BOARDS, 2: {}}
    upgrade(engine)
    engine.dispose()
