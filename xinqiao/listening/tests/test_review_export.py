"""The post-crisis review as a real PDF (CJK text extractable) and a real xlsx with formatted sheets."""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import pytest
from openpyxl import load_workbook

from xinqiao.listening.models import CrisisCase
from xinqiao.listening.services import cases as services
from xinqiao.listening.tests.cases_helpers import CLEAN_REPLY, make_alert, make_cluster, make_mention

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def closed_case(world):
    cluster = make_cluster(world.hospital, at=h(-3))
    make_mention(
        world.hospital, at=h(-3), cluster=cluster, handle="原帖作者", followers=5000, text="心内科医生态度恶劣"
    )
    make_mention(world.hospital, at=h(-2), cluster=cluster, handle="转发者甲", followers=300, text="心内科医生态度恶劣")
    make_mention(world.hospital, at=h(2), cluster=cluster, sentiment="neutral", handle="理性网友", text="等待调查")
    alert = make_alert(world.hospital, clusters=[cluster])
    brand = world.principal("brand")
    case = services.case_open_from_alert(principal=brand, alert=alert, now=T0)
    draft = services.reply_draft_create(principal=brand, case=case, text=CLEAN_REPLY, now=h(0.5))
    services.reply_submit(principal=brand, draft=draft, now=h(0.6))
    services.reply_sign_off(principal=world.principal("medical_affairs"), draft=draft, comment="同意", now=h(0.8))
    services.reply_mark_published(principal=brand, draft=draft, now=h(1))
    services.case_close(principal=brand, case=case, lessons="首发帖出现三小时内即应介入。", now=h(5))
    case.refresh_from_db()
    return case


def test_pdf(client, world, closed_case, tmp_path):
    client.force_login(world.users["leadership"])
    response = client.get(f"/listening/cases/{closed_case.pk}/review.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="crisis-case-{closed_case.pk}-review.pdf"'
    assert response.content.startswith(b"%PDF-")
    pdf = tmp_path / "review.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "红线：心内科医患纠纷" in text
    assert "首发帖出现三小时内即应介入。" in text
    assert "原帖作者" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, check=True, text=True).stdout
    assert "Noto-Sans-CJK-SC" in fonts  # the CJK glyphs are embedded, not missing boxes


def test_xlsx(client, world, closed_case):
    client.force_login(world.users["brand"])
    response = client.get(f"/listening/cases/{closed_case.pk}/review.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["summary", "timeline", "figures", "hourly", "replies", "mentions"]
    summary = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=3, values_only=True)}
    assert summary["Case"] == "红线：心内科医患纠纷"
    assert summary["First response"] == "2026-11-20 11:00"
    assert summary["Lessons learned"] == "首发帖出现三小时内即应介入。"
    figures = list(book["figures"].iter_rows(min_row=3, values_only=True))
    assert figures[0][:9] == ("The story (linked clusters)", "before", 2, 0.04, 2, 0, 0, 100.0, 5300)
    assert figures[1][:9] == ("The story (linked clusters)", "after", 1, 0.25, 0, 1, 0, 0.0, 100)
    assert book["figures"]["A2"].font.bold is True
    mentions = list(book["mentions"].iter_rows(min_row=3, values_only=True))
    assert [(m[2], m[3]) for m in mentions] == [("原帖作者", 5000), ("转发者甲", 300), ("理性网友", 100)]
    assert book["mentions"].cell(row=2, column=3).value == "Account"
    replies = list(book["replies"].iter_rows(min_row=3, values_only=True))
    assert [(r[1], r[3], r[6]) for r in replies] == [("Published", "medical_affairs", CLEAN_REPLY)]
    timeline = [row[2] for row in book["timeline"].iter_rows(min_row=3, values_only=True)]
    assert timeline == ["opened", "reply_drafted", "status", "reply_submitted", "reply_signed_off", "reply_published",
                        "status", "status", "closed"]  # fmt: skip


def test_export_of_another_hospitals_case_is_404(client, world, closed_case):
    client.force_login(world.users["outsider"])
    assert client.get(f"/listening/cases/{closed_case.pk}/review.xlsx").status_code == 404
    assert CrisisCase.objects.get().status == "closed"


@pytest.fixture(autouse=True)
def english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
