"""Cost entries (money spent on a channel, campaign, KOL partner or production) for ROI and CAC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from xinqiao.analytics.models import CostEntry
from xinqiao.channels.models import PlatformAccount, Publication
from xinqiao.core.access import Action, Principal, parse_pk
from xinqiao.core.exceptions import ApplicationError

MAX_AMOUNT_FEN = 10**12  # ¥10 000 000 000: anything larger is a typing error


@dataclass(frozen=True)
class CostEntryInput:
    kind: str
    amount_yuan: str | Decimal
    date_from: dt.date
    date_to: dt.date
    platform: str = ""
    account_id: int | None = None
    campaign: str = ""
    partner: str = ""
    note: str = ""
    publication_ids: tuple[int, ...] = field(default_factory=tuple)


def yuan_to_fen(value: str | Decimal) -> int:
    """ "1234.5" yuan → 123450 分; more than two decimals, zero, negative or huge amounts are refused."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ApplicationError(_("Enter the amount in yuan, e.g. 1200.50."), field="amount_yuan") from exc
    if not amount.is_finite():
        raise ApplicationError(_("Enter the amount in yuan, e.g. 1200.50."), field="amount_yuan")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ApplicationError(_("The amount can have at most two decimals (fen)."), field="amount_yuan")
    fen_int = int(fen)
    if fen_int <= 0:
        raise ApplicationError(_("The amount must be greater than zero."), field="amount_yuan")
    if fen_int > MAX_AMOUNT_FEN:
        raise ApplicationError(_("The amount is too large."), field="amount_yuan")
    return fen_int


@transaction.atomic
def cost_entry_create(*, principal: Principal, data: CostEntryInput) -> CostEntry:
    principal.require(Action.ANALYTICS_MANAGE)
    if data.kind not in CostEntry.Kind.values:
        raise ApplicationError(_("Choose a kind of cost."), field="kind")
    amount_fen = yuan_to_fen(data.amount_yuan)
    if data.date_to < data.date_from:
        raise ApplicationError(_("The end date must not be before the start date."), field="date_to")
    if data.platform and data.platform not in PlatformAccount.Platform.values:
        raise ApplicationError(_("Choose a platform."), field="platform")
    account = None
    if data.account_id:
        account = PlatformAccount.objects.filter(hospital=principal.hospital, pk=data.account_id).first()
        if account is None:
            raise ApplicationError(_("Choose an account of this hospital."), field="account")
    if data.kind == CostEntry.Kind.CAMPAIGN and not data.campaign.strip():
        raise ApplicationError(_("Name the campaign."), field="campaign")
    if data.kind == CostEntry.Kind.KOL and not data.partner.strip():
        raise ApplicationError(_("Name the KOL partner."), field="partner")
    if data.kind == CostEntry.Kind.CHANNEL and not (data.platform or account):
        raise ApplicationError(_("A channel cost needs a platform or an account."), field="platform")
    publication_ids = sorted(set(data.publication_ids))
    publications = list(Publication.objects.filter(hospital=principal.hospital, pk__in=publication_ids))
    if len(publications) != len(publication_ids):
        raise ApplicationError(_("Choose publications of this hospital."), field="publications")
    entry = CostEntry.objects.create(
        hospital=principal.hospital,
        kind=data.kind,
        platform=data.platform or (account.platform if account else ""),
        account=account,
        campaign=data.campaign.strip(),
        partner=data.partner.strip(),
        amount_fen=amount_fen,
        date_from=data.date_from,
        date_to=data.date_to,
        note=data.note.strip(),
        created_by=principal.user,
    )
    if publications:
        entry.publications.set(publications)
    return entry


@transaction.atomic
def cost_entry_delete(*, principal: Principal, pk: object) -> None:
    """Delete one cost entry of the principal's hospital (404 for others' entries, 403 without the action)."""
    entry = CostEntry.objects.filter(hospital=principal.hospital, pk=parse_pk(pk)).first()
    if entry is None:
        raise Http404
    principal.require(Action.ANALYTICS_MANAGE)
    entry.delete()
