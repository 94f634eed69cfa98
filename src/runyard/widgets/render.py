"""What RunDetails shows, read once: the run's state, metrics, children and output tail
(`widget_data`), as HTML for a notebook (charts drawn as inline SVG: nothing to load from
elsewhere, and they survive nbconvert) or as text for a terminal."""

from __future__ import annotations

import html
import math
import time

OUTPUT_LINES = 40
CHILDREN_SHOWN = 100
e = html.escape


def widget_data(run) -> dict:
    """v1's get_widget_data(): status, times, metrics, children, the output's last lines."""
    from runyard.runs import mlflow_fields
    from runyard.ui.pages import duration_text

    record = run._refresh()
    children = []
    for child in list(run.get_children())[:CHILDREN_SHOWN]:
        child_record = child._refresh()
        children.append({"run_id": child.id, "status": child_record["status"].value,
                         "values": child_record["properties"].get("runyard.hyperparameters", ""),
                         "metrics": _last_values(child.get_metrics()), "url": child.get_portal_url()})
    log = run._read_log("std_log") or b""
    error = (record.get("error") or {}).get("message") if record.get("error") else None
    return {"run_id": run.id, "name": mlflow_fields.name_of(record), "experiment": record["experiment"],
            "status": record["status"].value, "ended": record["status"].is_terminal(),
            "duration": duration_text(record), "history": record.get("history") or [],
            "metrics": run.get_metrics(), "children": children, "error": error,
            "output": log.decode("utf-8", errors="replace").splitlines()[-OUTPUT_LINES:],
            "url": run.get_portal_url()}


def _last_values(metrics: dict) -> dict:
    return {k: (v[-1] if isinstance(v, list) and v else v) for k, v in metrics.items()
            if isinstance(v, (int, float)) or (isinstance(v, list) and v and isinstance(v[-1], (int, float)))}


def _series(metrics: dict) -> dict[str, list[float]]:
    return {name: [float(x) for x in values] for name, values in metrics.items()
            if isinstance(values, list) and len(values) > 1
            and all(isinstance(x, (int, float)) and math.isfinite(x) for x in values)}


def chart(name: str, values: list[float], width: int = 300, height: int = 110) -> str:
    """A line chart of one metric as inline SVG."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 6
    points = " ".join(
        f"{pad + i * (width - 2 * pad) / (len(values) - 1):.1f},{height - pad - (v - low) / span * (height - 2 * pad):.1f}"
        for i, v in enumerate(values))
    return (f'<figure style="display:inline-block;margin:4px 12px 4px 0"><svg width="{width}" height="{height}" '
            f'role="img" aria-label="{e(name)}" style="border:1px solid #d1d9e0;background:#fff">'
            f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{points}"/></svg>'
            f'<figcaption style="font-size:12px">{e(name)}: last {values[-1]:.6g} '
            f'(min {low:.6g}, max {high:.6g}, {len(values)} points)</figcaption></figure>')


_COLOURS = {"Completed": "#116329", "Failed": "#a40e26", "Canceled": "#424a53"}


def html_view(data: dict) -> str:
    colour = _COLOURS.get(data["status"], "#0550ae")
    parts = [f'<div style="font-family:system-ui,sans-serif"><b>{e(data["name"])}</b> '
             f'<span style="color:{colour};font-weight:600">{e(data["status"])}</span> '
             f'<span style="color:#59636e">{e(data["duration"])} &middot; {e(data["run_id"])} &middot; '
             f'<a href="{e(data["url"])}" target="_blank" rel="noopener">run page</a></span>']
    if data["error"]:
        parts.append(f'<div style="background:#ffebe9;padding:6px">{e(data["error"])}</div>')
    if data["history"]:
        parts.append('<div style="color:#59636e;font-size:12px">' + " &rarr; ".join(
            f"{e(status)} {time.strftime('%H:%M:%S', time.localtime(at))}" for status, at in data["history"]) + "</div>")
    series = _series(data["metrics"])
    parts.append("".join(chart(name, values) for name, values in sorted(series.items())))
    singles = {k: v for k, v in data["metrics"].items() if k not in series}
    if singles:
        parts.append("<table>" + "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(_short(v))}</td></tr>"
                                         for k, v in sorted(singles.items())) + "</table>")
    if data["children"]:
        names = sorted({k for c in data["children"] for k in c["metrics"]})
        head = "".join(f"<th>{e(h)}</th>" for h in ["run", "status", "values", *names])
        rows = "".join(
            f'<tr><td><a href="{e(c["url"])}" target="_blank" rel="noopener">{e(c["run_id"])}</a></td>'
            f'<td>{e(c["status"])}</td><td>{e(c["values"])}</td>'
            + "".join(f"<td>{e(_short(c['metrics'].get(n, '')))}</td>" for n in names) + "</tr>"
            for c in data["children"])
        parts.append(f"<div><b>Child runs ({len(data['children'])})</b><table>{'<tr>' + head + '</tr>'}{rows}</table></div>")
    if data["output"]:
        parts.append('<pre style="max-height:240px;overflow:auto;background:#f6f8fa;padding:6px;line-height:1.3">'
                     + e("\n".join(data["output"])) + "</pre>")
    return "".join(parts) + "</div>"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def text_view(data: dict) -> str:
    lines = [f"{data['name']} ({data['run_id']}): {data['status']}, {data['duration']}", f"Page: {data['url']}"]
    if data["error"]:
        lines.append(f"Error: {data['error']}")
    for name, value in sorted(data["metrics"].items()):
        if isinstance(value, list) and value:
            lines.append(f"  {name}: {_short(value[-1])} (last of {len(value)})")
        else:
            lines.append(f"  {name}: {_short(value)}")
    for child in data["children"]:
        metrics = ", ".join(f"{k}={_short(v)}" for k, v in sorted(child["metrics"].items()))
        lines.append(f"  child {child['run_id']}: {child['status']} {child['values']} {metrics}".rstrip())
    if data["output"]:
        lines.append("Output (last lines):")
        lines.extend(f"  {line}" for line in data["output"][-10:])
    return "\n".join(lines)
