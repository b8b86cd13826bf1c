"""Parse served HTML and report anything a browser would execute."""

from __future__ import annotations

from html.parser import HTMLParser


class _ActiveContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.findings: list[str] = []
        self._in_body_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.findings.append(f"<{tag} {name}=...>")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                ("javascript:", "data:text/html", "vbscript:")
            ):
                self.findings.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not dict(attrs).get("src"):
            self.findings.append("inline <script>")
        if tag in {"iframe", "object", "embed"}:
            self.findings.append(f"<{tag}>")


def active_content(html: str) -> list[str]:
    """Event handlers, script URLs, inline scripts and embeds in the page; empty when the page is inert."""
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.findings
