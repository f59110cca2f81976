"""The HTML report: one self-contained file, inline SVG charts, no script and no network."""

from __future__ import annotations

from html import escape
from pathlib import Path

from iot_pipeline_simulator.errors import ReportError
from iot_pipeline_simulator.report import RunReport

_WIDTH, _HEIGHT = 760, 260
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 64, 16, 28, 36
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 820px; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } td, th { padding: .2rem .8rem; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"""


def line_chart(
    title: str, series: dict[str, list[tuple[float, float]]], *, x_label: str, y_label: str
) -> str:
    """An SVG line chart of one or more ``(x, y)`` series sharing the axes."""
    points = [p for values in series.values() for p in values]
    x_max = max((x for x, _ in points), default=1.0) or 1.0
    y_max = max((y for _, y in points), default=1.0) or 1.0
    inner_w = _WIDTH - _PAD_LEFT - _PAD_RIGHT
    inner_h = _HEIGHT - _PAD_TOP - _PAD_BOTTOM

    def sx(x: float) -> float:
        return _PAD_LEFT + x / x_max * inner_w

    def sy(y: float) -> float:
        return _PAD_TOP + inner_h - y / (y_max * 1.05) * inner_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{_PAD_LEFT}" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in range(5):
        y_value = y_max * 1.05 * tick / 4
        y = sy(y_value)
        parts.append(
            f'<line x1="{_PAD_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _PAD_RIGHT}" y2="{y:.1f}" '
            'stroke="#e5e5e5"/>'
            f'<text x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{y_value:,.4g}</text>'
        )
    for tick in range(5):
        x_value = x_max * tick / 4
        parts.append(
            f'<text x="{sx(x_value):.1f}" y="{_HEIGHT - _PAD_BOTTOM + 16}" '
            f'text-anchor="middle">{x_value:,.4g}</text>'
        )
    parts.append(
        f'<text x="{_PAD_LEFT + inner_w / 2:.0f}" y="{_HEIGHT - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{_PAD_TOP + inner_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_PAD_TOP + inner_h / 2:.0f})">{escape(y_label)}</text>'
    )
    for index, (name, values) in enumerate(series.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        if values:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{path}">'
                f"<title>{escape(name)}</title></polyline>"
            )
        legend_x = _PAD_LEFT + 10 + index * 150
        parts.append(
            f'<rect x="{legend_x}" y="{_PAD_TOP - 2}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{_PAD_TOP + 7}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _rows(rows: list[tuple[str, str]]) -> str:
    return "".join(f'<tr><th>{escape(k)}</th><td class="n">{escape(v)}</td></tr>' for k, v in rows)


def render_html(report: RunReport) -> str:
    """The whole HTML document of a run report."""
    points = report.timeline.points
    t = report.totals
    throughput = line_chart(
        "Throughput over time",
        {
            "sent/s": [(p["t"], p["sent_per_s"]) for p in points],
            "acknowledged/s": [(p["t"], p["acknowledged_per_s"]) for p in points],
        },
        x_label="seconds since start",
        y_label="readings per second",
    )
    latency = line_chart(
        "Request latency percentiles over time",
        {
            name: [(p["t"], p[f"latency_{name}_ms"]) for p in points if p["latency_max_ms"] > 0]
            for name in ("p50", "p95", "p99")
        },
        x_label="seconds since start",
        y_label="milliseconds",
    )
    lag = line_chart(
        "Schedule lag over time (how late requests started)",
        {
            name: [(p["t"], p.get(f"lag_{name}_ms", 0.0)) for p in points if p["sent_per_s"] > 0]
            for name in ("p50", "p99")
        },
        x_label="seconds since start",
        y_label="milliseconds",
    )
    summary = _rows(
        [
            ("endpoint", report.endpoint),
            ("profile / seed", f"{report.profile} / {report.seed}"),
            ("devices × rate", f"{report.devices:,} × {report.rate_per_device:g}/s"),
            ("duration", f"{report.duration_s:g} s (batch {report.batch}, by {report.batch_by})"),
            ("readings generated", f"{t.readings:,}"),
            ("sent (incl. duplicates)", f"{t.sent:,} in {t.requests:,} requests"),
            ("acknowledged", f"{t.acknowledged:,}"),
            ("rejected as expected", f"{t.rejected_expected:,}"),
            ("rejected unexpectedly", f"{t.rejected_unexpected:,}"),
            ("invalid but accepted", f"{t.accepted_invalid:,}"),
            ("errors", f"{t.errors:,}"),
            ("shed / unfinished", f"{t.shed:,} / {t.unfinished:,}"),
            (
                "target / offered",
                f"{report.throughput.target_per_s:,.1f} / "
                f"{report.throughput.offered_per_s:,.1f} per s",
            ),
            ("acknowledged per s", f"{report.throughput.acknowledged_per_s:,.1f}"),
        ]
    )
    latency_rows = _rows([(k, f"{v:,.2f} ms") for k, v in report.latency_ms.items()])
    lag_rows = _rows([(k, f"{v:,.2f} ms") for k, v in report.schedule_lag_ms.items()])
    errors = _rows([(k, f"{v:,}") for k, v in report.errors.items()]) or "<tr><td>none</td></tr>"
    injected = _rows(
        [(f"fault: {k}", f"{v:,}") for k, v in sorted(report.faults.items())]
        + [(f"delivery: {k}", f"{v:,}") for k, v in sorted(report.deliveries.items())]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>iot-sim report: {escape(report.profile)} {escape(report.started_at)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>iot-sim run, {escape(report.started_at)}</h1>"
        f"<table>{summary}</table>"
        f"<h2>Throughput</h2>{throughput}"
        f"<h2>Latency</h2>{latency}"
        f"<h2>Schedule lag</h2>{lag}"
        f"<h2>Latency and schedule lag</h2><table>{latency_rows}</table>"
        f"<p>Schedule lag: how late requests started against their schedule.</p>"
        f"<table>{lag_rows}</table>"
        f"<h2>Errors by kind</h2><table>{errors}</table>"
        f"<h2>Injected behaviour</h2><table>{injected}</table>"
        "</body></html>\n"
    )


def write_html(report: RunReport, path: Path) -> None:
    """Write :func:`render_html` to ``path``."""
    try:
        path.write_text(render_html(report), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the HTML report {path}: {exc.strerror}") from None
