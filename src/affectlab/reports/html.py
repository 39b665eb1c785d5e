"""Render a report Document as one self-contained HTML page (inline CSS, figures as base64 data URIs)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from affectlab.reports.document import Document, Figure, Link, Note, Table

_CSS = """
:root { --fg:#1d2330; --muted:#5d6678; --line:#e3e7ee; --accent:#2f6fdf; --best:#e9f7ef; --bestfg:#13723f;
        --bg:#f6f8fb; }
* { box-sizing:border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:linear-gradient(135deg,#1f3b73,#2f6fdf); color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:650; }
header p { margin:0; opacity:.9; }
.facts { display:flex; flex-wrap:wrap; gap:8px; margin-top:14px; }
.fact { background:rgba(255,255,255,.14); border-radius:6px; padding:4px 10px; font-size:13px; }
.fact b { font-weight:600; opacity:.85; margin-right:4px; }
.layout { display:flex; gap:28px; max-width:1320px; margin:0 auto; padding:24px 28px 60px; }
nav { position:sticky; top:16px; align-self:flex-start; min-width:190px; max-width:220px; font-size:13.5px; }
nav a { display:block; color:var(--muted); text-decoration:none; padding:3px 0 3px 10px;
        border-left:2px solid var(--line); }
nav a.l3 { padding-left:22px; font-size:12.5px; }
nav a:hover { color:var(--accent); border-left-color:var(--accent); }
main { flex:1; min-width:0; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 24px;
          margin-bottom:20px; box-shadow:0 1px 2px rgba(20,30,60,.04); }
section.l3 { margin-left:18px; }
h2 { margin:0 0 12px; font-size:20px; }
h3 { margin:0 0 10px; font-size:17px; }
p { margin:8px 0; }
.tablewrap { overflow-x:auto; margin:10px 28px 14px 0; display:inline-block; vertical-align:top;
             max-width:100%; }
.tablewrap .note { max-width:440px; white-space:normal; }
p.note { font-size:12.5px; }
table { border-collapse:collapse; font-size:13.5px; font-variant-numeric:tabular-nums; }
caption { text-align:left; color:var(--muted); font-size:13px; padding-bottom:6px; }
th, td { padding:6px 12px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
thead th { background:#f0f3f8; font-weight:600; position:sticky; top:0; }
tbody tr:hover { background:#fafbfd; }
td.best { background:var(--best); color:var(--bestfg); font-weight:650; }
td.best::after { content:" ★"; }
.note { color:var(--muted); font-size:13px; }
figure { margin:14px 0; display:inline-block; vertical-align:top; max-width:100%; }
figure.wide { display:block; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; background:#fff; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; max-width:720px; }
footer { text-align:center; color:var(--muted); font-size:12px; padding:10px 0 30px; }
@media (max-width:900px) { nav { display:none; } .layout { padding:14px; } }
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table_html(table: Table) -> str:
    """Return one table as HTML; best cells get class="best"."""
    parts = ['<div class="tablewrap"><table>']
    if table.caption:
        parts.append(f"<caption>{escape(table.caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr></thead>")
    parts.append("<tbody>")
    for r, row in enumerate(table.rows):
        cells = []
        for c, text in enumerate(row):
            cls = ' class="best"' if (r, c) in table.best else ""
            cells.append(f"<td{cls}>{escape(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if table.note:
        parts.append(f'<p class="note">{escape(table.note)}</p>')
    parts.append("</div>")
    return "".join(parts)


def figure_html(fig: Figure) -> str:
    """Return one figure with its PNG embedded as a data URI."""
    cls = ' class="wide"' if fig.wide else ""
    return (
        f'<figure{cls} id="fig-{escape(fig.name)}"><img alt="{escape(fig.caption)}" '
        f'src="{_data_uri(fig.png)}"><figcaption>{escape(fig.caption)}</figcaption></figure>'
    )


def render_html(doc: Document) -> str:
    """Return the whole page as a string (no external assets)."""
    facts = "".join(f'<span class="fact"><b>{escape(k)}</b>{escape(v)}</span>' for k, v in doc.facts)
    nav = "".join(f'<a class="l{s.level}" href="#{s.anchor}">{escape(s.title)}</a>' for s in doc.sections)
    body = []
    for section in doc.sections:
        tag = f"h{section.level}"
        body.append(
            f'<section id="{section.anchor}" class="l{section.level}"><{tag}>{escape(section.title)}</{tag}>'
        )
        for block in section.blocks:
            if isinstance(block, Table):
                body.append(table_html(block))
            elif isinstance(block, Figure):
                body.append(figure_html(block))
            elif isinstance(block, Link):
                body.append(f'<p><a href="{escape(block.href)}">{escape(block.text)}</a></p>')
            else:
                cls = ' class="note"' if isinstance(block, Note) else ""
                body.append(f"<p{cls}>{escape(block)}</p>")
        body.append("</section>")
    subtitle = f"<p>{escape(doc.subtitle)}</p>" if doc.subtitle else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{escape(doc.title)}</h1>{subtitle}<div class="facts">{facts}</div></header>'
        f'<div class="layout"><nav>{nav}</nav><main>{"".join(body)}</main></div>'
        "<footer>Generated by affectlab · self-contained: opens offline</footer></body></html>\n"
    )


def write_html(doc: Document, folder: Path) -> Path:
    """Write report.html into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(render_html(doc), encoding="utf-8")
    return path
