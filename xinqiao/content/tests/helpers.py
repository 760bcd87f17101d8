"""Builders shared by the content and channels tests (synthetic data only)."""

from __future__ import annotations

import io
import struct

import segno

from xinqiao.content import services, workflow
from xinqiao.content.models import ContentItem
from xinqiao.core.access import principal_for_user
from xinqiao.core.models import Membership
from xinqiao.core.tests.factories import make_user

DISCLAIMER = "<p>以上内容仅供参考，具体诊疗请遵医嘱。</p>"
CLEAN_BODY = "<p>高血压患者要规律监测血压，按时服药，保持低盐饮食。</p>" + DISCLAIMER
WARN_BODY = "<p>我院专家说这是最有效的降压方法。</p>" + DISCLAIMER  # ABS-002 WARN on 最有效
BLOCK_BODY = "<p>高血压可以根治，保证治愈不复发。</p>" + DISCLAIMER  # EFF-001 BLOCK on 保证治愈


def png_bytes(text: str = "xinqiao") -> bytes:
    buffer = io.BytesIO()
    segno.make(text).save(buffer, kind="png", scale=2)
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    """A tiny real baseline JPEG (1x1 grey pixel)."""
    return bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e"
        "1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f000001"
        "0501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105"
        "122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a43444546"
        "4748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aa"
        "b2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100"
        "003f00fbd3ffd9"
    )


def webp_bytes() -> bytes:
    """A RIFF/WEBP container header with a minimal VP8L payload."""
    payload = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def gif_bytes() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def writer(world, password: str = "correct-horse-battery-staple"):
    """A second brand editor: items written by them can be approved by the ``brand`` persona."""
    return make_user("writer", password, world.hospital, Membership.Role.BRAND)


def principal_of(user, world):
    return principal_for_user(user, world.hospital)


def make_item(
    world, author, *, body: str = CLEAN_BODY, department: str | None = "cardiology", **overrides
) -> ContentItem:
    data = services.ItemInput(
        title=overrides.pop("title", "高血压的日常管理"),
        content_type=overrides.pop("content_type", ContentItem.ContentType.ARTICLE),
        pillar=overrides.pop("pillar", ContentItem.Pillar.SCIENCE),
        body_html=body,
        department_id=world.departments[department].pk if department else None,
        **overrides,
    )
    return services.item_create(principal=principal_of(author, world), data=data)


def approve_through(world, item, *, until: str) -> ContentItem:
    """Submit ``item`` and approve steps (department, medical, final) until the item is in state ``until``."""
    author = principal_of(item.author, world)
    workflow.item_submit(principal=author, item=item)
    approvers = {
        ContentItem.State.DEPARTMENT_REVIEW: ("dept_reviewer", "department"),
        ContentItem.State.MEDICAL_REVIEW: ("medical_affairs", "medical"),
        ContentItem.State.FINAL_REVIEW: ("brand", "final"),
    }
    item.refresh_from_db()
    while item.state != until:
        persona, step = approvers[item.state]
        workflow.item_approve(principal=world.principal(persona), item=item, step=step)
        item.refresh_from_db()
    return item
