"""The address a page gives link previews (og:url): its canonical form, for the public pages that have one."""

from __future__ import annotations

from flask import Flask, request, url_for

# Pages anyone may open at the same address and see the same kind of page. A battle's own address
# (/battles/<token>) is its visitor's and is never advertised; a shared battle gives its own (templates/sharing).
CANONICAL = {
    "battle.new_battle": (),
    "live.write_your_own": (),
    "leaderboard.leaderboard": ("category", "order"),
    "analysis.analysis": ("category",),
    "my_ranking.page": (),
    "terms.terms_page": (),
    "privacy.privacy_page": (),
}


def canonical_url() -> str | None:
    args = CANONICAL.get(request.endpoint or "")
    if args is None:
        return None
    # Only the arguments that choose what the page shows: anything else in the address is dropped.
    kept = {name: request.args[name] for name in args if request.args.get(name)}
    # Defaults are left out, so each board has one address.
    for name, default in (("order", "all"), ("category", "overall")):
        if kept.get(name) == default:
            del kept[name]
    return url_for(request.endpoint, _external=True, **kept)


def register(app: Flask) -> None:
    # A function, called by base.html only: partials (a vote's reveal) pay nothing for it.
    app.context_processor(lambda: {"canonical_url": canonical_url})
