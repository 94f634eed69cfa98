"""What every runyard page shares: the frame (header linking the console and MLflow's UI, one
inline style sheet: nothing is fetched from elsewhere), tables and status badges. Cells are
escaped here unless a helper says it takes HTML."""

from __future__ import annotations

import html
import time
from urllib.parse import quote

PREFIX = "/runyard"
e = html.escape

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328}
header{background:#0b3b5b;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none}main{padding:16px 24px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.muted{color:#59636e}.status{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.Completed{background:#dafbe1;color:#116329}.Failed{background:#ffebe9;color:#a40e26}
.Canceled,.CancelRequested{background:#eaeef2;color:#424a53}
.Running,.Preparing,.Starting,.Queued,.Finalizing,.NotResponding,.Transitioning,.Creating{background:#ddf4ff;color:#0550ae}
.Healthy,.Succeeded,.idle{background:#dafbe1;color:#116329}.Unhealthy,.dead{background:#ffebe9;color:#a40e26}
.running{background:#ddf4ff;color:#0550ae}
table{border-collapse:collapse}td,th{border-bottom:1px solid #d1d9e0;padding:4px 12px 4px 0;
text-align:left;vertical-align:top}pre{background:#f6f8fa;padding:12px;overflow:auto;max-height:60vh;
white-space:pre-wrap;word-break:break-all}.error{background:#ffebe9;padding:12px;border-radius:6px}
"""


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)} "
            f"- runyard</title><style>{_STYLE}</style></head><body><header><a href=\"{PREFIX}/\"><b>runyard</b></a>"
            f"<a href=\"/#/experiments\">Experiments (MLflow)</a><a href=\"/#/models\">Models (MLflow)</a>"
            f"</header><main>{body}</main></body></html>")


def not_found(message: str) -> str:
    return page("Not found", f"<p>{e(message)}</p>")


def facts(rows) -> str:
    """A two-column table of (label, value) pairs, both escaped."""
    return "<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>"
                               for k, v in rows) + "</table>"


def grid(header: list[str], rows: list[list[str]], empty: str) -> str:
    """A table of already-escaped cells (links, badges), or `empty` when there are no rows."""
    if not rows:
        return f'<p class="muted">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>"


def status(word: str, element_id: str | None = None) -> str:
    """A status word as a coloured badge (the word is also its CSS class)."""
    id_attr = f' id="{e(element_id)}"' if element_id else ""
    return f'<span{id_attr} class="status {e(word)}">{e(word)}</span>'


def href(*segments) -> str:
    """The address of one of runyard's pages: PREFIX and the segments, each quoted whole."""
    return PREFIX + "".join("/" + quote(str(s), safe="") for s in segments)


def link(text: str, *segments) -> str:
    return f'<a href="{href(*segments)}">{e(text)}</a>'


def run_link(record: dict, text: str | None = None) -> str:
    from runyard.runs import mlflow_fields

    return link(text or mlflow_fields.name_of(record), "runs", record["run_id"])


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else ""


def muted(text: str) -> str:
    return f'<span class="muted">{e(text)}</span>'
