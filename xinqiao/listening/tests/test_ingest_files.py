"""File import: encodings, formats, column mapping, validation with row numbers, atomicity and idempotency."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest

from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent
from xinqiao.listening.models import Mention, MentionBatch
from xinqiao.listening.services import ingest

HEADER = "平台,帖子ID,链接,作者,粉丝数,内容,发布时间,点赞数,转发数,评论数\n"
ROWS = [
    "微博,wb-1,https://weibo.com/1/AbC,小猫123,1.2万,测试第一人民医院心内科王建国医生很耐心,2026-03-01 14:30,15,2,3\n",
    "抖音,dy-2,,快乐的鱼88,300,儿科排队等了一上午<script>alert(1)</script>,2026/03/02 08:05:00,1,0,0\n",
    "xiaohongshu,xhs-3,,,,一院的护士态度很差,2026-03-02T10:00:00+08:00,,,\n",
]


def csv_bytes(rows=ROWS, encoding="utf-8", header=HEADER) -> bytes:
    return (header + "".join(rows)).encode(encoding)


def upload_and_commit(world, data: bytes, filename: str = "export.csv", mapping=None) -> MentionBatch:
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename=filename, data=data)
    return ingest.mention_file_commit(
        principal=principal, batch=preview.batch, mapping=mapping if mapping is not None else preview.mapping
    )


def test_guessed_mapping_preview_and_commit(world):
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="export.csv", data=csv_bytes())
    assert preview.parsed.encoding == "utf-8"
    assert preview.mapping == {
        "platform": 0, "external_id": 1, "url": 2, "author_handle": 3, "author_followers": 4, "text": 5,
        "posted_at": 6, "likes": 7, "reposts": 8, "comments": 9,
    }  # fmt: skip
    assert [number for number, _raw in preview.sample] == [2, 3, 4]
    assert preview.errors == []
    assert preview.batch.status == MentionBatch.Status.PREVIEW
    assert Mention.objects.count() == 0

    batch = ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    assert (batch.status, batch.rows_total, batch.rows_created, batch.rows_duplicate) == ("committed", 3, 3, 0)
    first = Mention.objects.get(external_id="wb-1")
    assert (first.platform, first.author_followers, first.likes, first.author_handle) == ("weibo", 12000, 15, "小猫123")
    assert first.posted_at == dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC)  # Beijing 14:30
    second = Mention.objects.get(external_id="dy-2")
    assert second.text == "儿科排队等了一上午<script>alert(1)</script>"  # kept as data, rendered escaped
    assert second.posted_at == dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MENTION_IMPORT, object_id=str(batch.pk)).count() == 1


def test_reimporting_the_same_file_changes_nothing(world):
    upload_and_commit(world, csv_bytes())
    again = upload_and_commit(world, csv_bytes())
    assert (again.rows_created, again.rows_duplicate) == (0, 3)
    assert Mention.objects.count() == 3
    assert Mention.objects.filter(batch=again).count() == 0


def test_committing_a_batch_twice_is_a_no_op(world):
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="export.csv", data=csv_bytes())
    first = ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    second = ingest.mention_file_commit(principal=principal, batch=first, mapping=preview.mapping)
    assert (second.pk, second.rows_created) == (first.pk, 3)
    assert Mention.objects.count() == 3


def test_gbk_file(world):
    batch = upload_and_commit(world, csv_bytes(encoding="gbk"))
    assert batch.rows_created == 3
    assert Mention.objects.get(external_id="xhs-3").text == "一院的护士态度很差"
    assert ingest.parse_file("x.csv", csv_bytes(encoding="gbk")).encoding == "gb18030"


def test_utf8_bom_file(world):
    parsed = ingest.parse_file("x.csv", b"\xef\xbb\xbf" + csv_bytes())
    assert (parsed.encoding, parsed.headers[0]) == ("utf-8-sig", "平台")
    assert upload_and_commit(world, b"\xef\xbb\xbf" + csv_bytes()).rows_created == 3


def test_tab_separated_and_undecodable_files():
    parsed = ingest.parse_file("x.tsv", csv_bytes().replace(b",", b"\t"))
    assert (parsed.headers[1], parsed.rows[0][1][1]) == ("帖子ID", "wb-1")
    with pytest.raises(ApplicationError) as error:
        ingest.parse_file("x.csv", b"\x81\x30\x81" + bytes(range(0x80, 0xFF)) * 3 + b"\xff\xff\xff")
    assert error.value.code == "encoding"


def test_xlsx_file(world):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["platform", "external_id", "text", "posted_at", "likes", "来源账号备注"])
    sheet.append(["weibo", 1234567890123, "一院挂号难", dt.datetime(2026, 3, 1, 9, 0), 7, "重点账号"])
    sheet.append(["douyin", "dy-9", "一院很好", "2026-03-01 10:00", "3w", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    batch = upload_and_commit(world, buffer.getvalue(), filename="导出.xlsx")
    assert batch.rows_created == 2
    first = Mention.objects.get(platform="weibo")
    assert (first.external_id, first.likes, first.extra) == ("1234567890123", 7, {"来源账号备注": "重点账号"})
    assert first.posted_at == dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)
    assert Mention.objects.get(platform="douyin").likes == 30000


def test_jsonl_file(world):
    lines = [
        {"platform": "weibo", "external_id": "j1", "text": "一院", "posted_at": "2026-03-01T08:00:00Z"},
        {"platform": "zhihu", "external_id": "j2", "text": "心内科", "posted_at": 1772352000, "likes": 4},
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    batch = upload_and_commit(world, data, filename="mentions.jsonl")
    assert batch.rows_created == 2
    assert Mention.objects.get(external_id="j2").posted_at == dt.datetime.fromtimestamp(1772352000, tz=dt.UTC)


def test_a_bad_row_rejects_the_whole_file_with_row_numbers(world):
    rows = [
        *ROWS,
        "推特,tw-4,,,,文本,2026-03-01 10:00,,,\n",  # unknown platform
        "微博,wb-5,,,,文本,昨天下午,,,\n",  # not a time
        "微博,wb-6,,,,,2026-03-01 10:00,-3,,\n",  # empty text, negative count
    ]
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="export.csv", data=csv_bytes(rows))
    assert [(e["row"], e["column"]) for e in preview.errors] == [(5, "platform"), (6, "posted_at"), (7, "text")]
    with pytest.raises(ingest.IngestRejected) as error:
        ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    assert error.value.extra["errors"] == [
        {"row": 5, "column": "platform", "message": "Unknown platform “推特”."},
        {"row": 6, "column": "posted_at", "message": "Not a date and time (for example 2026-03-01 14:30)."},
        {"row": 7, "column": "text", "message": "This column is required and is empty."},
    ]
    assert Mention.objects.count() == 0  # nothing of the batch is written
    batch = MentionBatch.objects.get(pk=preview.batch.pk)
    assert (batch.status, batch.rows_total, len(batch.errors)) == ("rejected", 6, 3)


def test_missing_columns_are_named(world):
    principal = world.principal("brand")
    data = "平台,内容\n微博,一院\n".encode()
    preview = ingest.mention_file_upload(principal=principal, filename="x.csv", data=data)
    assert preview.errors == [
        {"row": 0, "column": "external_id, posted_at", "message": "No column is mapped to these fields."}
    ]
    with pytest.raises(ApplicationError) as error:
        ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    assert (error.value.code, error.value.extra) == ("missing_columns", {"missing": ["external_id", "posted_at"]})
    assert Mention.objects.count() == 0


def test_a_column_mapped_twice_is_refused(world):
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="x.csv", data=csv_bytes())
    mapping = {**preview.mapping, "author_handle": 5}
    with pytest.raises(ApplicationError) as error:
        ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=mapping)
    assert error.value.code == "invalid_mapping"


def test_oversized_files_and_batches(world, monkeypatch):
    with pytest.raises(ApplicationError) as error:
        ingest.parse_file("big.csv", b"x" * (ingest.MAX_FILE_BYTES + 1))
    assert error.value.code == "file_too_large"
    with pytest.raises(ApplicationError) as error:
        ingest.parse_file("empty.csv", b"")
    assert error.value.code == "empty_file"
    with pytest.raises(ApplicationError) as error:
        ingest.parse_file("notes.docx", b"hello")
    assert error.value.code == "file_type"
    monkeypatch.setattr(ingest, "MAX_FILE_ROWS", 2)
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="x.csv", data=csv_bytes())
    with pytest.raises(ingest.IngestRejected) as rejected:
        ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    assert rejected.value.extra["errors"][0] == {
        "row": 0,
        "column": "",
        "message": "The batch has 3 rows; at most 2 are accepted at once.",
    }
    assert Mention.objects.count() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), ("", 0), (12, 12), (3.0, 3), ("1,234", 1234), ("1.2万", 12000), ("3w", 30000), ("10万+", 100000)],
)
def test_counts(value, expected):
    assert ingest.parse_count(value) == expected


@pytest.mark.parametrize("value", ["-1", "abc", 1.5, True, "1.2.3"])
def test_bad_counts(value):
    with pytest.raises(ValueError):  # noqa: PT011 - the parser's contract is ValueError
        ingest.parse_count(value)


def test_only_managers_upload(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        ingest.mention_file_upload(principal=world.principal("leadership"), filename="x.csv", data=csv_bytes())
    assert MentionBatch.objects.count() == 0


def test_jsonl_lines_that_are_not_objects_are_row_errors(world):
    data = b'{"platform": "weibo", "external_id": "j1", "text": "x", "posted_at": "2026-03-01"}\n[1, 2]\nnot json\n'
    principal = world.principal("brand")
    preview = ingest.mention_file_upload(principal=principal, filename="m.jsonl", data=data)
    assert preview.errors == [
        {"row": 2, "column": "", "message": "This line is not a JSON object."},
        {"row": 3, "column": "", "message": "This line is not a JSON object."},
    ]
    with pytest.raises(ingest.IngestRejected):
        ingest.mention_file_commit(principal=principal, batch=preview.batch, mapping=preview.mapping)
    assert Mention.objects.count() == 0
