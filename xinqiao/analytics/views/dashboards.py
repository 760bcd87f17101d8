"""Dashboards: overview, content (with drill-down to a post), accounts (influence rankings), topics, funnel, ROI
(with the cost entry form), rankings and the leadership one-pager.

Every page takes the same filter form (dates, department, platform, account, topic); an HTMX request swaps only
the results partial. Every chart is built as a ``Chart`` (ECharts data + an accessible table) and the same
``Chart`` answers ``?format=csv&chart=<id>`` with a UTF-8 (BOM) CSV for Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.analytics import influence, kpis, recommendations
from xinqiao.analytics.models import CostEntry, InfluenceIndex
from xinqiao.analytics.selectors import LOCAL_TZ, Filters
from xinqiao.analytics.selectors import accounts as account_selectors
from xinqiao.analytics.selectors import content as content_selectors
from xinqiao.analytics.selectors import funnel as funnel_selectors
from xinqiao.analytics.selectors import rankings as ranking_selectors
from xinqiao.analytics.selectors import roi as roi_selectors
from xinqiao.analytics.selectors import topics as topic_selectors
from xinqiao.analytics.selectors.overview import overview as overview_selector
from xinqiao.analytics.selectors.period import period_summary
from xinqiao.analytics.services import costs
from xinqiao.channels.models import PlatformAccount
from xinqiao.core.access import Action, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Department
from xinqiao.core.views import _apply_error, member_required
from xinqiao.core.widgets import DatePicker

MAX_RANGE_DAYS = 400
DEFAULT_DAYS = 30
# Topic × format comparisons need MIN_POSTS posts in each cell: a month of a hospital's output rarely gives two
# topics that many of one format, a quarter does.
TOPIC_DEFAULT_DAYS = 90


# --- filters ---------------------------------------------------------------------------------


class DashboardFilterForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), required=False, widget=DatePicker())
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=DatePicker())
    department = forms.TypedChoiceField(label=gettext_lazy("Department"), required=False, coerce=int, empty_value=None)
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    account = forms.TypedChoiceField(label=gettext_lazy("Account"), required=False, coerce=int, empty_value=None)
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), required=False)

    def __init__(self, *args, principal, department_ids, topic_window=(None, None), **kwargs):
        super().__init__(*args, **kwargs)
        hospital = principal.hospital
        departments = Department.objects.filter(hospital=hospital).order_by("pk")
        if department_ids is not None:
            departments = departments.filter(pk__in=department_ids)
        all_label = _("All")
        self.fields["department"].choices = [("", all_label), *departments.values_list("pk", "name")]
        self.fields["platform"].choices = [("", all_label), *PlatformAccount.Platform.choices]
        accounts = PlatformAccount.objects.filter(hospital=hospital).order_by("platform", "name")
        if department_ids is not None:
            accounts = accounts.filter(department_id__in=department_ids)
        self.fields["account"].choices = [("", all_label), *accounts.values_list("pk", "name")]
        topics = topic_selectors.topic_choices(hospital, department_ids, *topic_window)
        asked = (self.data.get("topic") or "")[:40] if self.is_bound else ""
        if asked and asked not in topics:
            topics.append(asked)  # a topic without rows in this period is still a valid (empty) filter
        self.fields["topic"].choices = [("", all_label), *((t, t) for t in topics)]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The end date must not be before the start date."))
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise forms.ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS})
        return data


@dataclass
class DashboardScope:
    principal: Any
    start: dt.date
    end: dt.date
    filters: Filters
    department_ids: frozenset[int] | None
    form: DashboardFilterForm

    @property
    def hospital(self):
        return self.principal.hospital

    def kwargs(self) -> dict[str, Any]:
        return {
            "hospital": self.hospital,
            "start": self.start,
            "end": self.end,
            "filters": self.filters,
            "department_ids": self.department_ids,
        }


def local_today() -> dt.date:
    return timezone.now().astimezone(LOCAL_TZ).date()


def _date_or_none(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def dashboard_scope(request: HttpRequest, *, default_days: int = DEFAULT_DAYS) -> DashboardScope:
    principal = request.principal
    principal.require(Action.ANALYTICS_VIEW)
    department_ids = principal.department_ids_for(Action.ANALYTICS_VIEW)
    query = request.GET.copy()
    for key in ("format", "chart", "window", "window_start", "version", "month"):
        query.pop(key, None)
    default_end = local_today() - dt.timedelta(days=1)
    asked_end = _date_or_none(query.get("end")) or default_end
    asked_start = _date_or_none(query.get("start")) or asked_end - dt.timedelta(days=default_days - 1)
    # The date inputs show the period the page covers, also when it is the default or half of it was given.
    for key, value in (("start", asked_start), ("end", asked_end)):
        if query and not query.get(key):
            query[key] = value.isoformat()
    form = DashboardFilterForm(
        query or None,
        initial={"start": asked_start, "end": asked_end},
        principal=principal,
        department_ids=department_ids,
        topic_window=(asked_start, asked_end),
    )
    data = form.cleaned_data if query and form.is_valid() else {}
    end = data.get("end") or default_end
    start = data.get("start") or end - dt.timedelta(days=default_days - 1)
    filters = Filters(
        department_id=data.get("department"),
        platform=data.get("platform") or "",
        account_id=data.get("account"),
        topic=data.get("topic") or "",
    )
    return DashboardScope(principal, start, end, filters, department_ids, form)


# --- charts, tables, CSV -------------------------------------------------------------------------


def fmt_int(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_yuan(value) -> str:
    return "—" if value is None else f"¥{value / 100:,.2f}"


def fmt_float(value) -> str:
    return "—" if value is None else f"{value:,.2f}"


def fmt_text(value) -> str:
    return "" if value is None else str(value)


CSV_FORMATTERS = {
    fmt_int: lambda v: "" if v is None else str(int(v)),
    fmt_pct: lambda v: "" if v is None else f"{v * 100:.2f}",
    fmt_yuan: lambda v: "" if v is None else f"{v / 100:.2f}",
    fmt_float: lambda v: "" if v is None else f"{v:.4f}",
    fmt_text: lambda v: "" if v is None else str(v),
}


@dataclass
class Column:
    key: str
    label: Any
    formatter: Any = fmt_text
    link: str | None = None  # row key holding a URL for this cell
    csv_label_suffix: str = ""


@dataclass
class Chart:
    id: str
    title: Any
    kind: str  # line, bar, hbar, funnel
    columns: list[Column]
    rows: list[dict[str, Any]]
    x: list[Any] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    csv_query: str = ""
    note: Any = ""

    @property
    def script_id(self) -> str:
        return f"chart-data-{self.id}"

    @property
    def echarts(self) -> dict[str, Any]:
        if self.kind == "funnel":
            return {
                "kind": "funnel",
                "items": [{"name": str(n), "value": v} for n, v in zip(self.x, self.series[0]["data"], strict=True)],
            }
        return {
            "kind": self.kind,
            "x": [str(x) for x in self.x],
            "series": [{"name": str(s["name"]), "data": s["data"]} for s in self.series],
        }

    @property
    def table_rows(self) -> list[list[dict[str, Any]]]:
        return [
            [
                {"text": column.formatter(row.get(column.key)), "href": row.get(column.link) if column.link else None}
                for column in self.columns
            ]
            for row in self.rows
        ]

    def csv_response(self, filename_stem: str) -> HttpResponse:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([f"{column.label}{column.csv_label_suffix}" for column in self.columns])
        for row in self.rows:
            writer.writerow([CSV_FORMATTERS[column.formatter](row.get(column.key)) for column in self.columns])
        response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename_stem}-{self.id}.csv"'
        return response


def _csv_query(request: HttpRequest, chart_id: str) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    query["chart"] = chart_id
    return query.urlencode()


def respond(
    request: HttpRequest, template: str, scope: DashboardScope, charts: list[Chart], context: dict
) -> HttpResponse:
    """CSV of one chart, the results partial for HTMX, or the whole page."""
    for chart in charts:
        chart.csv_query = _csv_query(request, chart.id)
    if request.GET.get("format") == "csv":
        wanted = request.GET.get("chart", "")
        for chart in charts:
            if chart.id == wanted:
                return chart.csv_response(f"{scope.start:%Y%m%d}-{scope.end:%Y%m%d}")
        raise Http404
    context = {
        "scope": scope,
        "form": scope.form,
        "charts": {chart.id: chart for chart in charts},
        "chart_list": charts,
        "page_url": request.path,
        "is_scoped": scope.department_ids is not None,
        **context,
    }
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render(request, f"{template}#results", context)
    return render(request, template, context)


def platform_name(value: str) -> str:
    return recommendations.platform_label(value)


# --- pages ---------------------------------------------------------------------------------------


def trend_chart(rows: list[dict[str, Any]]) -> Chart:
    return Chart(
        "trend", _("Daily exposure, views and interactions"), "line",
        [Column("date", _("Date")), Column("impressions", _("Exposure"), fmt_int), Column("views", _("Views"), fmt_int),
         Column("interactions", _("Interactions"), fmt_int)],
        rows, x=[r["date"] for r in rows],
        series=[{"name": _("Exposure"), "data": [r["impressions"] for r in rows]},
                {"name": _("Views"), "data": [r["views"] for r in rows]},
                {"name": _("Interactions"), "data": [r["interactions"] for r in rows]}],
    )  # fmt: skip


def kpi_chart(summary: dict[str, Any]) -> Chart:
    rows = [
        {
            "layer": kpis.LAYER_LABELS[row["layer"]],
            "label": row["label"],
            "value": row["display"] if row["has_data"] else _("no data"),
            "previous": row["previous_display"] if row["previous"] is not None else _("no data"),
            "change": row["change"],
        }
        for row in summary["kpis"]
    ]
    return Chart(
        "kpis", _("Headline KPIs"), "table",
        [Column("layer", _("Layer")), Column("label", _("KPI")), Column("value", _("This period")),
         Column("previous", _("Previous period")), Column("change", pgettext("period", "Change"), fmt_pct)],
        rows,
    )  # fmt: skip


@member_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request)
    data = overview_selector(**scope.kwargs())
    platforms = [r | {"platform_label": platform_name(r["platform"])} for r in data["platforms"]]
    charts = [
        kpi_chart(data["summary"]),
        trend_chart(data["trend"]),
        Chart(
            "platforms", _("Views by platform"), "bar",
            [Column("platform_label", _("Platform")), Column("posts", _("Posts"), fmt_int),
             Column("impressions", _("Exposure"), fmt_int), Column("views", _("Views"), fmt_int),
             Column("interaction_rate", _("Interaction rate"), fmt_pct)],
            platforms, x=[r["platform_label"] for r in platforms],
            series=[{"name": _("Views"), "data": [r["views"] for r in platforms]}],
        ),
    ]  # fmt: skip
    return respond(
        request, "analytics/dashboards/overview.html", scope, charts, {"summary": data["summary"], "page": "overview"}
    )


def post_url(row: dict[str, Any]) -> str:
    return reverse("analytics:content_detail", args=[row["account_id"], row["content_key"]])


@member_required
@require_GET
def content(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request)
    posts = content_selectors.post_table(scope.hospital, scope.start, scope.end, scope.filters, scope.department_ids)
    posts = [p | {"url": post_url(p), "platform_label": platform_name(p["platform"])} for p in posts]
    hours = content_selectors.best_hours(scope.hospital, scope.start, scope.end, scope.filters, scope.department_ids)
    hours = [h | {"platform_label": platform_name(h["platform"])} for h in hours]
    platforms = sorted({h["platform"] for h in hours})
    formats = topic_selectors.topic_cells(**scope.kwargs(), keys=("content_format",))
    formats = [f | {"format_label": recommendations.format_label(f["content_format"])} for f in formats]
    top = posts[:15]
    charts = [
        Chart(
            "posts", _("Most viewed posts"), "hbar",
            [Column("title", _("Title"), link="url"), Column("platform_label", _("Platform")),
             Column("account", _("Account")), Column("topic", _("Topic")), Column("content_format", _("Format")),
             Column("views", _("Views"), fmt_int), Column("interaction_rate", _("Interaction rate"), fmt_pct),
             Column("completion_rate", _("Completion rate"), fmt_pct), Column("shares", _("Shares"), fmt_int)],
            posts, x=[p["title"] or p["content_key"] for p in reversed(top)],
            series=[{"name": _("Views"), "data": [p["views"] for p in reversed(top)]}],
        ),
        Chart(
            "hours", _("Views per post by publish hour"), "bar",
            [Column("platform_label", _("Platform")), Column("hour", _("Hour"), fmt_int),
             Column("posts", _("Posts"), fmt_int), Column("views_per_post", _("Views per post"), fmt_float),
             Column("interaction_rate", _("Interaction rate"), fmt_pct)],
            hours, x=list(range(24)),
            series=[
                {"name": platform_name(platform),
                 "data": [next((round(h["views_per_post"] or 0) for h in hours
                                if h["platform"] == platform and h["hour"] == hour), 0) for hour in range(24)]}
                for platform in platforms
            ],
        ),
        Chart(
            "formats", _("Formats"), "bar",
            [Column("format_label", _("Format")), Column("posts", _("Posts"), fmt_int),
             Column("views", _("Views"), fmt_int), Column("interaction_rate", _("Interaction rate"), fmt_pct),
             Column("completion_rate", _("Completion rate"), fmt_pct), Column("conversions", _("Conversions"), fmt_int)],
            formats, x=[f["format_label"] for f in formats],
            series=[{"name": _("Views"), "data": [f["views"] for f in formats]}],
        ),
    ]  # fmt: skip
    advice = recommendations.recommend(hours=hours, formats=formats)
    return respond(
        request, "analytics/dashboards/content.html", scope, charts, {"recommendations": advice, "page": "content"}
    )


@member_required
@require_GET
def content_detail(request: HttpRequest, account_id: int, content_key: str) -> HttpResponse:
    principal = request.principal
    principal.require(Action.ANALYTICS_VIEW)
    department_ids = principal.department_ids_for(Action.ANALYTICS_VIEW)
    post = content_selectors.post_detail(principal.hospital, parse_pk(account_id), content_key, department_ids)
    if post is None:
        raise Http404
    series = post["series"]
    chart = Chart(
        "post", _("Daily performance"), "line",
        [Column("date", _("Date")), Column("impressions", _("Exposure"), fmt_int), Column("views", _("Views"), fmt_int),
         Column("likes", _("Likes"), fmt_int), Column("comments", _("Comments"), fmt_int),
         Column("shares", _("Shares"), fmt_int), Column("favorites", _("Favourites"), fmt_int),
         Column("completion_rate", _("Completion rate"), fmt_pct)],
        series, x=[r["date"] for r in series],
        series=[{"name": _("Views"), "data": [r["views"] for r in series]},
                {"name": _("Exposure"), "data": [r["impressions"] for r in series]}],
    )  # fmt: skip
    chart.csv_query = _csv_query(request, chart.id)
    if request.GET.get("format") == "csv":
        if request.GET.get("chart") != chart.id:
            raise Http404
        return chart.csv_response(f"post-{post['account'].pk}")
    return render(
        request,
        "analytics/dashboards/content_detail.html",
        {"post": post, "chart": chart, "chart_list": [chart], "platform_label": platform_name(post["platform"])},
    )


@member_required
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request)
    window = request.GET.get("window", InfluenceIndex.Window.WEEK)
    if window not in InfluenceIndex.Window.values:
        window = InfluenceIndex.Window.WEEK
    window_start = None
    if request.GET.get("window_start"):
        try:
            window_start = dt.date.fromisoformat(request.GET["window_start"])
        except ValueError:
            window_start = None
    table = account_selectors.account_table(**scope.kwargs())
    ranking = account_selectors.influence_ranking(
        hospital=scope.hospital, window=window, window_start=window_start, department_ids=scope.department_ids
    )
    charts = [
        Chart(
            "accounts", _("Accounts"), "hbar",
            [Column("account", _("Account")), Column("platform_label", _("Platform")),
             Column("department", _("Department")), Column("followers", _("Followers"), fmt_int),
             Column("net_followers", _("Net new followers"), fmt_int), Column("posts", _("Posts"), fmt_int),
             Column("views", _("Views"), fmt_int), Column("interaction_rate", _("Interaction rate"), fmt_pct)],
            table, x=[r["account"] for r in reversed(table)],
            series=[{"name": _("Followers"), "data": [r["followers"] or 0 for r in reversed(table)]}],
        )
    ]  # fmt: skip
    for version, rows in sorted(ranking["versions"].items()):
        slug = version.replace(".", "-")
        charts.append(
            Chart(
                f"influence-{slug}", _("Influence index %(version)s") % {"version": version}, "hbar",
                [Column("rank", _("Rank"), fmt_int), Column("account", _("Account")),
                 Column("department", _("Department")), Column("value", _("Index"), fmt_float),
                 Column("n", _("Posts"), fmt_int), Column("capped_articles", _("10万+ articles"), fmt_int)],
                rows, x=[r["account"] for r in reversed(rows)],
                series=[{"name": version, "data": [round(r["value"], 2) for r in reversed(rows)]}],
            )
        )  # fmt: skip
        departments = ranking["departments"].get(version, [])
        charts.append(
            Chart(
                f"influence-departments-{slug}",
                _("Departments by influence index %(version)s") % {"version": version}, "bar",
                [Column("department", _("Department")), Column("value", _("Mean index"), fmt_float),
                 Column("accounts", _("Accounts"), fmt_int)],
                departments, x=[r["department"] for r in departments],
                series=[{"name": version, "data": [round(r["value"], 2) for r in departments]}],
            )
        )  # fmt: skip
    return respond(
        request,
        "analytics/dashboards/accounts.html",
        scope,
        charts,
        {
            "ranking": ranking,
            "window": window,
            "windows": account_selectors.influence_windows(scope.hospital, window),
            "can_manage": scope.principal.allows(Action.ANALYTICS_MANAGE),
            "page": "accounts",
        },
    )


@member_required
@require_POST
def influence_compute(request: HttpRequest) -> HttpResponse:
    """Compute (or recompute) the influence indices of one window: the given start or the last complete one."""
    principal = request.principal
    principal.require(Action.ANALYTICS_MANAGE)
    window = request.POST.get("window", InfluenceIndex.Window.WEEK)
    if window not in InfluenceIndex.Window.values:
        window = InfluenceIndex.Window.WEEK
    window_start = _date_or_none(request.POST.get("window_start")) or influence.last_complete_window(
        window, local_today()
    )
    if window == InfluenceIndex.Window.WEEK:
        window_start -= dt.timedelta(days=window_start.weekday())
    rows = influence.influence_compute(hospital=principal.hospital, window=window, window_start=window_start)
    messages.success(
        request,
        _("Influence indices computed for %(count)d accounts, window starting %(start)s.")
        % {"count": len({row.account_id for row in rows}), "start": window_start.isoformat()},
    )
    return redirect(f"{reverse('analytics:accounts')}?{urlencode({'window': window})}")


@member_required
@require_GET
def topics(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request, default_days=TOPIC_DEFAULT_DAYS)
    data = topic_selectors.topic_overview(**scope.kwargs())
    topic_rows = [r | {"topic_label": r["topic"] or _("No topic")} for r in data["topics"]]
    cells = [
        r
        | {
            "platform_label": platform_name(r["platform"]),
            "format_label": recommendations.format_label(r["content_format"]),
        }
        for r in data["cells"]
    ]
    charts = [
        Chart(
            "topics", _("Topics"), "bar",
            [Column("topic_label", _("Topic")), Column("posts", _("Posts"), fmt_int),
             Column("views", _("Views"), fmt_int), Column("completion_rate", _("Completion rate"), fmt_pct),
             Column("interaction_rate", _("Interaction rate"), fmt_pct),
             Column("conversions", _("Conversions"), fmt_int)],
            topic_rows, x=[r["topic_label"] for r in topic_rows],
            series=[{"name": _("Views"), "data": [r["views"] for r in topic_rows]}],
        ),
        Chart(
            "topic-cells", _("Topic × format × platform"), "hbar",
            [Column("topic", _("Topic")), Column("format_label", _("Format")), Column("platform_label", _("Platform")),
             Column("posts", _("Posts"), fmt_int), Column("views", _("Views"), fmt_int),
             Column("completion_rate", _("Completion rate"), fmt_pct),
             Column("interaction_rate", _("Interaction rate"), fmt_pct),
             Column("conversions", _("Conversions"), fmt_int)],
            cells, x=[f"{r['topic']} · {r['format_label']} · {r['platform_label']}" for r in reversed(cells[:15])],
            series=[{"name": _("Completion rate (%)"),
                     "data": [round((r["completion_rate"] or 0) * 100, 1) for r in reversed(cells[:15])]}],
        ),
    ]  # fmt: skip
    advice = recommendations.recommend(topic_formats=data["topic_formats"])
    return respond(
        request, "analytics/dashboards/topics.html", scope, charts, {"recommendations": advice, "page": "topics"}
    )


@member_required
@require_GET
def funnel(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request)
    data = funnel_selectors.funnel(**scope.kwargs())
    stages = data["stages"]
    charts = [
        Chart(
            "funnel", _("Funnel"), "funnel",
            [Column("label", _("Stage")), Column("value", _("Count"), fmt_int),
             Column("step_rate", _("From the previous stage"), fmt_pct)],
            stages, x=[s["label"] for s in stages], series=[{"name": _("Count"), "data": [s["value"] for s in stages]}],
        ),
        Chart(
            "attribution", _("Attribution by publication (first vs last touch)"), "bar",
            [Column("title", _("Title")), Column("account", _("Account")),
             Column("first_consultations", _("Consultations, first touch"), fmt_int),
             Column("last_consultations", _("Consultations, last touch"), fmt_int),
             Column("first_visits", _("Appointments and visits, first touch"), fmt_int),
             Column("last_visits", _("Appointments and visits, last touch"), fmt_int),
             Column("first_revenue_fen", _("Revenue, first touch"), fmt_yuan),
             Column("last_revenue_fen", _("Revenue, last touch"), fmt_yuan)],
            data["publications"], x=[r["title"] for r in data["publications"]],
            series=[{"name": _("First touch"), "data": [r["first_visits"] for r in data["publications"]]},
                    {"name": _("Last touch"), "data": [r["last_visits"] for r in data["publications"]]}],
        ),
    ]  # fmt: skip
    return respond(request, "analytics/dashboards/funnel.html", scope, charts, {"funnel": data, "page": "funnel"})


class CostEntryForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CostEntry.Kind.choices)
    amount_yuan = forms.CharField(label=gettext_lazy("Amount (yuan)"), max_length=20)
    date_from = forms.DateField(label=gettext_lazy("From"), widget=DatePicker())
    date_to = forms.DateField(label=gettext_lazy("To"), widget=DatePicker())
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    account = forms.TypedChoiceField(label=gettext_lazy("Account"), required=False, coerce=int, empty_value=None)
    campaign = forms.CharField(label=gettext_lazy("Campaign"), max_length=80, required=False)
    partner = forms.CharField(label=gettext_lazy("KOL partner"), max_length=80, required=False)
    note = forms.CharField(label=pgettext_lazy("remark", "Note"), max_length=200, required=False)

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].choices = [("", "—"), *PlatformAccount.Platform.choices]
        accounts = PlatformAccount.objects.filter(hospital=hospital).order_by("platform", "name")
        self.fields["account"].choices = [("", "—"), *accounts.values_list("pk", "name")]


def _roi_page(request: HttpRequest, cost_form: CostEntryForm | None = None, status: int = 200) -> HttpResponse:
    scope = dashboard_scope(request)
    data = roi_selectors.roi(**scope.kwargs())
    rows = data["rows"]
    charts = [
        Chart(
            "roi", _("Cost and attributed revenue"), "bar",
            [Column("kind_label", _("Kind")), Column("label", _("Channel, campaign or partner")),
             Column("cost_fen", _("Cost"), fmt_yuan), Column("visits", _("Attributed appointments and visits"), fmt_int),
             Column("new_patients", _("New patients"), fmt_int), Column("revenue_fen", _("Attributed revenue"), fmt_yuan),
             Column("cac_fen", _("Cost per acquired patient"), fmt_yuan),
             Column("patient_value_fen", _("Patient value"), fmt_yuan), Column("roi", _("ROI"), fmt_pct)],
            rows, x=[f"{r['kind_label']} · {r['label']}" for r in rows],
            series=[{"name": _("Cost (yuan)"), "data": [round(r["cost_fen"] / 100, 2) for r in rows]},
                    {"name": _("Attributed revenue (yuan)"), "data": [round(r["revenue_fen"] / 100, 2) for r in rows]}],
        )
    ]  # fmt: skip
    can_manage = scope.principal.allows(Action.ANALYTICS_MANAGE)
    if can_manage and cost_form is None:
        cost_form = CostEntryForm(hospital=scope.hospital, initial={"date_from": scope.start, "date_to": scope.end})
    advice = recommendations.roi_outliers(rows, data["cac_fen"])
    response = respond(
        request,
        "analytics/dashboards/roi.html",
        scope,
        charts,
        {
            "roi": data,
            "cost_form": cost_form if can_manage else None,
            "entries": [
                {"entry": entry, "amount": fmt_yuan(entry.amount_fen)}
                for entry in roi_selectors.cost_entry_list(scope.hospital, scope.start, scope.end, scope.department_ids)
            ],
            "can_manage": can_manage,
            "recommendations": advice,
            "page": "roi",
            "display": {
                "total_cost": fmt_yuan(data["total_cost_fen"]),
                "revenue": fmt_yuan(data["attributed_revenue_fen"]),
                "cac": fmt_yuan(data["cac_fen"]),
                "patient_value": fmt_yuan(data["patient_value_fen"]),
                "roi": fmt_pct(data["roi"]),
            },
        },
    )
    response.status_code = status
    return response


@member_required
@require_http_methods(["GET", "POST"])
def roi(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _roi_page(request)
    principal = request.principal
    principal.require(Action.ANALYTICS_MANAGE)
    form = CostEntryForm(request.POST, hospital=principal.hospital)
    if form.is_valid():
        data = form.cleaned_data
        try:
            costs.cost_entry_create(
                principal=principal,
                data=costs.CostEntryInput(
                    kind=data["kind"],
                    amount_yuan=data["amount_yuan"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    platform=data["platform"],
                    account_id=data["account"],
                    campaign=data["campaign"],
                    partner=data["partner"],
                    note=data["note"],
                ),
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Cost entry saved."))
            return redirect(f"{reverse('analytics:roi')}?{request.GET.urlencode()}")
    return _roi_page(request, cost_form=form, status=400)


@member_required
@require_POST
def cost_delete(request: HttpRequest, pk: int) -> HttpResponse:
    costs.cost_entry_delete(principal=request.principal, pk=pk)
    messages.success(request, _("Cost entry deleted."))
    return redirect("analytics:roi")


@member_required
@require_GET
def rankings(request: HttpRequest) -> HttpResponse:
    scope = dashboard_scope(request)
    doctors = ranking_selectors.doctor_ip_ranking(**scope.kwargs())
    departments = ranking_selectors.department_ranking(**scope.kwargs())
    columns = [
        Column("rank", _("Rank"), fmt_int), Column("name", pgettext("thing", "Name")), Column("posts", _("Posts"), fmt_int),
        Column("views", _("Views"), fmt_int), Column("interaction_rate", _("Interaction rate"), fmt_pct),
        Column("completion_rate", _("Completion rate"), fmt_pct), Column("shares", _("Shares"), fmt_int),
    ]  # fmt: skip
    charts = [
        Chart("doctor-ip", _("Doctor-IP ranking"), "hbar", columns, doctors, x=[r["name"] for r in reversed(doctors)],
              series=[{"name": _("Views"), "data": [r["views"] for r in reversed(doctors)]}]),
        Chart("departments", _("Department ranking"), "hbar", columns, departments,
              x=[r["name"] for r in reversed(departments)],
              series=[{"name": _("Views"), "data": [r["views"] for r in reversed(departments)]}]),
    ]  # fmt: skip
    return respond(request, "analytics/dashboards/rankings.html", scope, charts, {"page": "rankings"})


def month_bounds(request: HttpRequest) -> tuple[dt.date, dt.date]:
    """The month of ``?month=YYYY-MM``, else the last full month (Asia/Shanghai)."""
    value = request.GET.get("month", "")
    try:
        first = dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        first = (local_today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


@member_required
@require_GET
def leadership(request: HttpRequest) -> HttpResponse:
    """The monthly one-pager: KPIs by layer against last month, the funnel, ROI, top posts, departments."""
    scope = dashboard_scope(request)
    scope.start, scope.end = month_bounds(request)
    summary = period_summary(**scope.kwargs())
    funnel_data = funnel_selectors.funnel(**scope.kwargs(), limit=5)
    roi_data = roi_selectors.roi(**scope.kwargs())
    posts = content_selectors.post_table(
        scope.hospital, scope.start, scope.end, scope.filters, scope.department_ids, limit=5
    )
    posts = [p | {"url": post_url(p), "platform_label": platform_name(p["platform"])} for p in posts]
    departments = ranking_selectors.department_ranking(**scope.kwargs())[:10]
    topic_formats = topic_selectors.topic_cells(**scope.kwargs(), keys=("topic", "content_format"))
    stages = funnel_data["stages"]
    charts = [
        kpi_chart(summary),
        Chart(
            "funnel", _("Funnel"), "funnel",
            [Column("label", _("Stage")), Column("value", _("Count"), fmt_int),
             Column("step_rate", _("From the previous stage"), fmt_pct)],
            stages, x=[s["label"] for s in stages], series=[{"name": _("Count"), "data": [s["value"] for s in stages]}],
        ),
        Chart(
            "top-posts", _("Top posts"), "hbar",
            [Column("title", _("Title"), link="url"), Column("platform_label", _("Platform")),
             Column("views", _("Views"), fmt_int), Column("interaction_rate", _("Interaction rate"), fmt_pct)],
            posts, x=[p["title"] or p["content_key"] for p in reversed(posts)],
            series=[{"name": _("Views"), "data": [p["views"] for p in reversed(posts)]}],
        ),
        Chart(
            "departments", _("Department ranking"), "hbar",
            [Column("rank", _("Rank"), fmt_int), Column("name", _("Department")), Column("views", _("Views"), fmt_int),
             Column("interaction_rate", _("Interaction rate"), fmt_pct)],
            departments, x=[r["name"] for r in reversed(departments)],
            series=[{"name": _("Views"), "data": [r["views"] for r in reversed(departments)]}],
        ),
    ]  # fmt: skip
    advice = recommendations.recommend(
        topic_formats=topic_formats, roi_rows=roi_data["rows"], overall_cac_fen=roi_data["cac_fen"]
    )
    month_query = urlencode({"month": f"{scope.start:%Y-%m}"})
    return respond(
        request,
        "analytics/dashboards/leadership.html",
        scope,
        charts,
        {
            "summary": summary,
            "roi": roi_data,
            "recommendations": advice,
            "month": f"{scope.start:%Y-%m}",
            "month_query": month_query,
            "roi_display": {
                "total_cost": fmt_yuan(roi_data["total_cost_fen"]),
                "revenue": fmt_yuan(roi_data["attributed_revenue_fen"]),
                "cac": fmt_yuan(roi_data["cac_fen"]),
                "roi": fmt_pct(roi_data["roi"]),
            },
            "page": "leadership",
        },
    )


urlpatterns = [
    path("", overview, name="overview"),
    path("content/", content, name="content"),
    path("content/<int:account_id>/<str:content_key>/", content_detail, name="content_detail"),
    path("accounts/", accounts, name="accounts"),
    path("accounts/influence/", influence_compute, name="influence_compute"),
    path("topics/", topics, name="topics"),
    path("funnel/", funnel, name="funnel"),
    path("roi/", roi, name="roi"),
    path("roi/costs/<int:pk>/delete/", cost_delete, name="cost_delete"),
    path("rankings/", rankings, name="rankings"),
    path("leadership/", leadership, name="leadership"),
]
