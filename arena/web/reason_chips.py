"""The reveal's rows of reason chips, rendered once per state and reused.

Fourteen chips, each its own form, are most of the reveal's markup and a sizeable share of a vote's CPU, yet they
differ between reveals only in the form's address (the battle's token) and the CSRF token; the chips' states and
the tapped chip vary far less (right after a vote: none on, none tapped). So battle/_reason_chips.html is rendered
with placeholders for those two, once per state, and each reveal fills them in: the same markup, with the two
values stripped of bidi controls and escaped as the template's `{{ }}` would."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from markupsafe import Markup, escape

from arena.voting.reasons import SideChips
from arena.web.bidi import strip_bidi

TEMPLATE = "battle/_reason_chips.html"
# Never in a chip's markup otherwise (a NUL is in no template and no label), and left as they are by escaping.
ACTION, CSRF = "\x00reasons-action\x00", "\x00csrf-token\x00"
# States a page can show: 2 ** 14 chip settings at most, a handful in practice; the bound keeps taps on odd
# combinations from growing a worker's memory.
MAX_STATES = 256


def reason_chip_rows(chips: Sequence[SideChips], action: str, csrf: str, tapped: tuple[str, str] | None) -> Markup:
    skeletons: dict = current_app.extensions.setdefault("arena.reason_chip_rows", {})
    key = (tuple((group.side, tuple(group.chips)) for group in chips), tapped)
    skeleton = skeletons.get(key)
    if skeleton is None:
        env = current_app.jinja_env
        skeleton = env.get_template(TEMPLATE).render(reason_chips=chips, action=ACTION, csrf=CSRF, tapped=tapped)
        if not env.auto_reload:  # a template edited under the debug server shows at once
            if len(skeletons) >= MAX_STATES:
                skeletons.clear()
            skeletons[key] = skeleton
    return Markup(skeleton.replace(ACTION, escape(strip_bidi(action))).replace(CSRF, escape(strip_bidi(csrf))))
