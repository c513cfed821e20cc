"""report.html: the run's summary as one self-contained page to open in a browser.

One source of truth: the page is summary.md (the same sections, tables, floor, verdicts, settings
and machine) converted by markdown-it-py, so the two cannot drift apart. Self-contained, so it opens
anywhere without a network or the run folder: each chart the summary links is embedded as a base64
`data:` URI, the stylesheet is inline, and there is no script and no external reference at all.
Raw HTML in the Markdown is escaped (markdown-it's `html: False`), so a stack's log tail cannot
inject markup.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

REPORT = "report.html"
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 0; }
main { max-width: 1400px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
table { border-collapse: collapse; display: block; overflow-x: auto; max-width: 100%; margin: .8rem 0;
        font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; text-align: left; white-space: nowrap; }
td:last-child { white-space: normal; min-width: 16rem; }  /* settings, status codes, why: long text wraps */
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fafbfc; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f2f4f7; padding: 0 .25rem;
       border-radius: 3px; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow-x: auto; }
pre code { background: none; padding: 0; }
img { max-width: 100%; height: auto; display: block; margin: .8rem 0; border: 1px solid #eaeef2; }
"""
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
{body}</main>
</body>
</html>
"""


def page(summary_md: str, folder: Path) -> str:
    """The summary as a standalone HTML page; images are read from `folder` (where summary.md's links point)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(summary_md)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                _embed(child, folder)
    title = next((line.lstrip("# ").strip() for line in summary_md.splitlines() if line.startswith("# ")), "report")
    body = md.renderer.render(tokens, md.options, {}) + _history(folder)
    return PAGE.format(title=html.escape(title), style=STYLE.strip(), body=body)


def _history(folder: Path) -> str:
    """The history chart of each label (history-*.png, drawn by bench/history/report.py when the index holds
    more than one run), embedded under its own heading; "" when there is none."""
    charts = sorted(folder.glob("history-*.png"))
    if not charts:
        return ""
    images = "".join(f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
                     f'{base64.b64encode(p.read_bytes()).decode("ascii")}">\n' for p in charts)  # fmt: skip
    return f"<h2>History</h2>\n{images}"


def _embed(image: Token, folder: Path) -> None:
    """Point an image at its PNG's bytes (a data: URI); a chart that is not there keeps only its alt text."""
    src = str(image.attrGet("src") or "")
    path = folder / src
    if "://" in src or src.startswith("data:") or not path.is_file():
        image.attrSet("src", "data:,")  # never a network or file reference
        return
    image.attrSet("src", "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii"))
