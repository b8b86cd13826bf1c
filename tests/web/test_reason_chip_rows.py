"""The reveal's chip rows come from a cache of rendered states (arena/web/reason_chips.py): each visitor's reveal
still carries their own battle's address and their own CSRF token, escaped and stripped of bidi controls, and the
markup is what the template renders directly."""

from __future__ import annotations

from arena.voting.reasons import chips
from arena.web.reason_chips import TEMPLATE, reason_chip_rows


def direct(app, tagged, action, csrf, tapped):
    return app.jinja_env.get_template(TEMPLATE).render(reason_chips=chips(tagged), action=action, csrf=csrf,
                                                       tapped=tapped)  # fmt: skip


def test_each_reveal_gets_its_own_address_and_token_from_the_cached_rows(app):
    with app.test_request_context("/"):
        first = str(reason_chip_rows(chips(set()), "/battles/one/reasons", "token-one", None))
        second = str(reason_chip_rows(chips(set()), "/battles/two/reasons", "token-two", None))
    assert first.count('value="token-one"') == 14 and first.count('action="/battles/one/reasons"') == 14
    assert "token-two" not in first and "/battles/two" not in first
    assert second.count('value="token-two"') == 14 and second.count('hx-post="/battles/two/reasons"') == 14
    assert "token-one" not in second and "/battles/one" not in second and "\x00" not in second


def test_cached_rows_match_the_template_for_every_state(app):
    states = [(set(), None), ({("a", "cold"), ("b", "unsafe")}, ("a", "cold")), ({("b", "felt_heard")}, None)]
    with app.test_request_context("/"):
        for _ in range(2):  # the second pass is served from the cache
            for tagged, tapped in states:
                rows = str(reason_chip_rows(chips(tagged), "/battles/t/reasons", "tok", tapped))
                assert rows == direct(app, tagged, "/battles/t/reasons", "tok", tapped)
        on = str(reason_chip_rows(chips({("a", "cold")}), "/battles/t/reasons", "tok", ("a", "cold")))
    assert 'aria-pressed="true" data-reason="a-cold" data-focus-after-swap' in on
    assert on.count('aria-pressed="true"') == 1 and on.count("data-focus-after-swap") == 1


def test_the_filled_in_values_are_escaped_and_stripped_of_bidi_controls(app):
    with app.test_request_context("/"):
        rows = str(reason_chip_rows(chips(set()), '/b/\u202ex"<y>/reasons', "t\u2066o&k", None))
    assert 'action="/b/x&#34;&lt;y&gt;/reasons"' in rows and 'value="to&amp;k"' in rows
    assert "\u202e" not in rows and "\u2066" not in rows
