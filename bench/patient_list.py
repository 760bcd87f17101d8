"""(b) The filtered patient list page: keyset cursor vs OFFSET pagination with COUNT(*).

Ours: the real view ``/patients/?department=..&source_channel=..&age_min=..`` rendered through
``django.test.Client`` (all middleware, session, template) logged in as the demo ``service`` user,
first page and a deep page reached with the keyset ``cursor``. Baseline "OFFSET pagination with
COUNT(*)": the same filter, template and page size, paginated the way Django's ``Paginator`` does
(``SELECT COUNT(*)`` then ``LIMIT 50 OFFSET (page - 1) * 50``), at the same depth. The baseline view
lives in ``bench/_offset_urls.py``; both are served by the same URLconf in the same run.
"""

from __future__ import annotations

import re
from typing import Any

from bench._common import demo_hospital, row, summary, timed

DEEP_PAGE = 200
PAGE_LINK = re.compile(r'href="/patients/(\d+)/"')


def run(args) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.utils.http import urlencode

    from xinqiao.core import selectors
    from xinqiao.core.access import principal_for_user
    from xinqiao.core.models import Department

    hospital = demo_hospital()
    user = get_user_model().objects.get(username="service")
    principal = principal_for_user(user, hospital)
    department = Department.objects.get(hospital=hospital, code="cardiology")
    query = {"department": department.pk, "source_channel": "walk_in", "age_min": 40}
    filtered = selectors.patient_queryset(
        principal, selectors.PatientFilters(department_id=department.pk, source_channel="walk_in", age_min=40)
    )
    total = filtered.count()
    pages = -(-total // selectors.PAGE_SIZE)
    deep = min(DEEP_PAGE, pages)
    # the keyset cursor of the deep page is the last pk of the page before it
    cursor = (
        filtered.order_by("-pk").values_list("pk", flat=True)[(deep - 1) * selectors.PAGE_SIZE - 1]
        if deep > 1
        else None
    )
    repetitions = 20 if args.quick else 100
    client = Client()
    client.force_login(user)

    def fetch(path: str) -> list[str]:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return PAGE_LINK.findall(response.content.decode())

    urls = {
        "first": (f"/patients/?{urlencode(query)}", f"/bench/patients-offset/?{urlencode({**query, 'page': 1})}"),
        "deep": (
            f"/patients/?{urlencode({**query, 'cursor': cursor})}" if cursor else f"/patients/?{urlencode(query)}",
            f"/bench/patients-offset/?{urlencode({**query, 'page': deep})}",
        ),
    }
    results = []
    with override_settings(ROOT_URLCONF="bench._offset_urls"):
        for name, (keyset_url, offset_url) in urls.items():
            page_number = 1 if name == "first" else deep
            expected = min(selectors.PAGE_SIZE, total - (page_number - 1) * selectors.PAGE_SIZE)
            shown = fetch(keyset_url)
            if shown != fetch(offset_url) or len(shown) != expected:
                raise RuntimeError(f"keyset and OFFSET pages differ on page {page_number}")
            ours = summary(timed(repetitions, lambda _i, url=keyset_url: fetch(url), warmup=3))
            theirs = summary(timed(repetitions, lambda _i, url=offset_url: fetch(url), warmup=3))
            results.append(
                row(
                    f"patient list, page {page_number} (p50)",
                    "ms",
                    ours,
                    "OFFSET pagination with COUNT(*)",
                    theirs,
                    page=page_number,
                    offset=(page_number - 1) * selectors.PAGE_SIZE,
                    matching_rows=total,
                    requests=repetitions,
                )
            )
    return {
        "title": "Filtered patient list page",
        "results": results,
        "notes": [
            f"filter: cardiology, walk-in, age >= 40: {total:,} matching patients ({pages:,} pages of "
            f"{selectors.PAGE_SIZE}); deep page = page {deep}; {repetitions} requests each",
            *(
                f"{r['case']}: p95 {r['details']['ours']['p95']:.1f} ms vs {r['details']['baseline']['p95']:.1f} ms"
                for r in results
            ),
        ],
    }
