"""The execution summary printed after a streamed run."""

from __future__ import annotations


def _short(value) -> str:
    if isinstance(value, list):
        if not value:
            return "[]"
        return f"{_short(value[-1])} (last of {len(value)})"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return f"table {', '.join(map(str, value))}"
    return str(value)


def execution_summary(run, details: dict) -> str:
    from datetime import datetime

    lines = ["", "Execution Summary", "=================", f"RunId: {run.id}",
             f"Status: {details['status']}"]
    start, end = details.get("startTimeUtc"), details.get("endTimeUtc")
    if start and end:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        lines.append(f"Duration: {seconds:.1f} s")
    try:
        metrics = run.get_metrics()
    except Exception as exc:  # the summary must never hide the run's own outcome
        metrics = {"(metrics unavailable)": str(exc)}
    if metrics:
        lines.append("Metrics:")
        lines += [f"  {name}: {_short(value)}" for name, value in sorted(metrics.items())]
    files = run.get_file_names()
    outputs = [f for f in files if f.startswith("outputs/")]
    if outputs:
        lines.append(f"Outputs: {len(outputs)} files under outputs/ "
                     f"(download: runyard runs download {run.id} --prefix outputs)")
    if details.get("error"):
        lines.append(f"Error: {details['error']['error'].get('message', '')}")
    return "\n".join(lines) + "\n"
