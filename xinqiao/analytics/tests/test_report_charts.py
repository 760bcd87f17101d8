"""Server-side SVG charts: valid SVG, CJK labels kept as text, one element per bar or point, deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xinqiao.analytics.reports import charts

SVG = "{http://www.w3.org/2000/svg}"


def _groups(svg: str, prefix: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - our own chart output
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith(prefix)}


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - our own chart output
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_bar_chart_has_one_bar_per_value_and_cjk_labels_as_text():
    svg = charts.bar_chart(["流感", "儿童发热", "高血压"], [1500, 4000, 200], title="话题阅读量")

    bars = _groups(svg, "bar-")
    assert sorted(bars) == ["bar-0", "bar-1", "bar-2"]
    assert all(len(list(group.iter(f"{SVG}path"))) == 1 for group in bars.values())
    texts = _texts(svg)
    assert {"流感", "儿童发热", "高血压", "话题阅读量", "1,500", "4,000", "200"} <= set(texts)
    assert charts.cjk_font_name() in svg


def test_bar_lengths_follow_the_values():
    svg = charts.bar_chart(["a", "b"], [100, 300])

    widths = []
    for group in _groups(svg, "bar-").values():
        path = next(group.iter(f"{SVG}path")).get("d")
        xs = [float(token.split()[0]) for token in path.replace("L", "M").split("M")[1:] if token.strip()]
        widths.append(max(xs) - min(xs))
    assert round(widths[1] / widths[0], 2) == 3.0


def test_line_chart_has_one_marker_per_point_and_series():
    labels = [f"10-{day:02d}" for day in range(1, 32)]
    svg = charts.line_chart(
        labels, [("阅读", list(range(31))), ("互动", [value * 2 for value in range(31)])], secondary=True
    )

    series = _groups(svg, "series-")
    assert sorted(series) == ["series-0", "series-1"]
    assert [len(list(series[name].iter(f"{SVG}use"))) for name in ("series-0", "series-1")] == [31, 31]
    assert {"阅读", "互动"} <= set(_texts(svg))


def test_charts_are_deterministic():
    first = charts.bar_chart(["流感"], [10], title="t")
    second = charts.bar_chart(["流感"], [10], title="t")

    assert first == second
    assert "<dc:date>" not in first
