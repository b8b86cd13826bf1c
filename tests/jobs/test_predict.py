"""`arena analysis predict`: held-out scores by voter on both databases, stored for /analysis."""

from __future__ import annotations

import json
import re

from tests.arena_cli import run_arena


def test_eq_predicts_held_out_voters_better_and_the_page_says_so(eq_arena, client):
    assert run_arena("analysis", "predict", "--database-url", eq_arena).returncode == 2  # no analysis yet
    bad = run_arena("analysis", "predict", "--folds", "1", "--database-url", eq_arena)
    assert bad.returncode == 2 and "--folds" in bad.stderr
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    result = run_arena("analysis", "predict", "--folds", "5", "--json", "--database-url", eq_arena)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["split"] == "by voter" and out["folds"] == 5 and out["votes"] == 3000 and out["voters"] > 300
    rows = {r["key"]: r for r in out["explanations"]}
    assert set(rows) == {"bt", "davidson", "style", "eq", "style_eq", "pooled", "arms"}
    assert not rows["arms"]["available"] and not rows["davidson"]["available"]  # no arms; these votes have no ties
    assert rows["eq"]["log_loss"] < rows["bt"]["log_loss"] - 0.02
    assert rows["eq"]["log_loss_vs_bt"] < -3 * rows["eq"]["log_loss_vs_bt_se"]
    assert out["best"] in ("eq", "style_eq")
    for row in rows.values():
        if row["available"]:
            assert row["log_loss"] > 0 and 0 <= row["accuracy"] <= 1 and 0 <= row["brier"] <= 1
            assert sum(b["votes"] for b in row["calibration"]) == 3000
    # The page says it in words, from the stored run; a later analysis keeps it.
    assert run_arena("analysis", "eq", "--category", "overall", "--database-url", eq_arena).returncode == 0
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/analysis").get_data(as_text=True)))
    assert "Which explanation predicts new votes" in text
    assert re.search(r"judged emotional intelligence[^.]* predicts them best", text), text
    assert "Not tried: no presentation arms yet." in text
