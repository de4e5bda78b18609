"""docs/benchmarks.md, one section at a time: what a benchmark run alone (``--write``) does to the document."""

from __future__ import annotations

from pathlib import Path

PLOT_SECTION = "\n## list_messages against history length"


def replace_section(document: Path, title: str, lines: list[str]) -> None:
    """Put a section (``lines``, opening with ``title``) into the document: in place of its earlier version,
    else before the plot's section, else at the end."""
    text = document.read_text(encoding="utf-8") if document.exists() else ""
    block = "\n".join(lines)
    if title in text:
        start = text.index(title)
        following = text.find("\n## ", start)
        rest = text[following + 1 :] if following != -1 else ""
        text = text[:start] + block + ("\n" + rest if rest else "")
    elif PLOT_SECTION in text:
        at = text.index(PLOT_SECTION) + 1
        text = text[:at] + block + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    document.write_text(text, encoding="utf-8")
