"""ROI dashboard: cost entries against attributed patients and revenue, per channel, campaign and KOL partner.

Credit rule (docs/kpis.md): an entry's publications are its linked publications; without links, an entry with an
account gets that account's publications and a channel entry with a platform gets that platform's; other entries
(e.g. production) carry cost only. Revenue and patients are last-touch attributed, 30-day lookback. An entry's
cost in the period is pro rata by overlapping days. One publication may back several entries; its revenue then
shows in each group (ROI per group, not additive across groups).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from xinqiao.analytics import attribution, kpis
from xinqiao.analytics.models import CostEntry
from xinqiao.analytics.selectors import Filters, cost_rows, prorated_fen
from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.core.models import Hospital


def _group_of(entry: dict[str, Any]) -> tuple[str, str]:
    kind = entry["kind"]
    if kind == CostEntry.Kind.CAMPAIGN:
        return kind, entry["campaign"] or "—"
    if kind == CostEntry.Kind.KOL:
        return kind, entry["partner"] or "—"
    if kind == CostEntry.Kind.CHANNEL:
        platform = entry["platform"] or entry["account__platform"] or ""
        return kind, str(PlatformAccount.Platform(platform).label) if platform else "—"
    return kind, str(CostEntry.Kind(kind).label)


def roi(
    *,
    hospital: Hospital,
    start: dt.date,
    end: dt.date,
    filters: Filters | None = None,
    department_ids: Iterable[int] | None = None,
) -> dict[str, Any]:
    filters = Filters.coerce(filters)
    entries = list(
        cost_rows(hospital, start, end, filters, department_ids).values(
            "pk", "kind", "platform", "account_id", "account__platform", "campaign", "partner", "amount_fen",
            "date_from", "date_to", "note",
        )
    )  # fmt: skip
    linked: dict[int, set[int]] = defaultdict(set)
    for entry_id, publication_id in CostEntry.publications.through.objects.filter(
        costentry_id__in=[e["pk"] for e in entries]
    ).values_list("costentry_id", "publication_id"):
        linked[entry_id].add(publication_id)
    result = attribution.attribute(hospital=hospital, start=start, end=end, department_ids=department_ids)
    credits = result.by_publication[attribution.LAST_TOUCH]
    publication_accounts = dict(
        Publication.objects.filter(hospital=hospital, pk__in=list(credits)).values_list("pk", "account_id")
    )
    account_platforms = dict(PlatformAccount.objects.filter(hospital=hospital).values_list("pk", "platform"))
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        if entry["pk"] in linked:
            publications = linked[entry["pk"]]
        elif entry["account_id"]:
            publications = {pk for pk, account in publication_accounts.items() if account == entry["account_id"]}
        elif entry["platform"]:
            publications = {
                pk
                for pk, account in publication_accounts.items()
                if account_platforms.get(account) == entry["platform"]
            }
        else:
            publications = set()
        key = _group_of(entry)
        group = groups.setdefault(
            key,
            {"kind": key[0], "label": key[1], "cost_fen": 0, "entries": 0, "publications": set()},
        )
        group["cost_fen"] += prorated_fen(entry["amount_fen"], entry["date_from"], entry["date_to"], start, end)
        group["entries"] += 1
        group["publications"] |= publications
    rows = []
    for group in groups.values():
        patient_ids: set[int] = set()
        visits = new_patients = revenue = 0
        for pk in group.pop("publications"):
            credit = credits.get(pk)
            if credit is None:
                continue
            visits += credit.appointments_and_visits
            new_patients += credit.new_patients
            revenue += credit.revenue_fen
            patient_ids |= credit.patient_ids
        rows.append(
            group
            | {
                "kind_label": str(CostEntry.Kind(group["kind"]).label),
                "visits": visits,
                "new_patients": new_patients,
                "patients": len(patient_ids),
                "revenue_fen": revenue,
                "cac_fen": kpis.cost_per_acquired_patient(cost_fen=group["cost_fen"], acquired_patients=new_patients),
                "patient_value_fen": kpis.patient_value(revenue_fen=revenue, patients=len(patient_ids)),
                "roi": kpis.return_on_investment(revenue_fen=revenue, cost_fen=group["cost_fen"]),
            }
        )
    rows.sort(key=lambda r: (r["kind"], -r["cost_fen"], r["label"]))
    total_cost = sum(r["cost_fen"] for r in rows)
    return {
        "rows": rows,
        "total_cost_fen": total_cost,
        "attributed_revenue_fen": result.revenue_fen,
        "new_patients": result.new_patients,
        "patients": result.patients,
        "cac_fen": kpis.cost_per_acquired_patient(cost_fen=total_cost, acquired_patients=result.new_patients),
        "patient_value_fen": kpis.patient_value(revenue_fen=result.revenue_fen, patients=result.patients),
        "roi": kpis.return_on_investment(revenue_fen=result.revenue_fen, cost_fen=total_cost),
    }


def cost_entry_list(hospital: Hospital, start: dt.date, end: dt.date, department_ids: Iterable[int] | None = None):
    return (
        cost_rows(hospital, start, end, None, department_ids)
        .select_related("account")
        .order_by("-date_from", "-pk")[:100]
    )
