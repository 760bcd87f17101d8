"""The editorial calendar: month and week views with one lane per account, gaps and over-booked days, the
observance calendar's marks, and rescheduling (by drag and drop or by form).

Definitions (also in docs/architecture.md):
- an item sits on the local (Asia/Shanghai) day of its ``scheduled_at``, in the lane of each target account
  (items without a target account sit in the "no account" lane);
- a day is a *gap* when it is today or later and nothing is planned on it in any lane;
- an account is *over-booked* on a day when it has more items than its weekly target allows per day
  (``ceil(target_posts_per_week / 7)``, at least one), and over its target in a week when it has more items than
  ``target_posts_per_week``; a week with fewer items than the target shows the shortfall.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from xinqiao.channels.models import PlatformAccount
from xinqiao.content import observances, workflow
from xinqiao.content.models import ContentItem, Transition
from xinqiao.content.selectors import access_item, item_scope
from xinqiao.content.services import story_consent_valid
from xinqiao.core.access import Action, Principal
from xinqiao.core.exceptions import ApplicationError

State = ContentItem.State
MONTH, WEEK = "month", "week"
# The publishing time given to an item dropped on a day when it had no time yet.
DEFAULT_PUBLISH_TIME = dt.time(9, 0)
# States whose time can no longer move.
FIXED_STATES = (State.PUBLISHED, State.REJECTED)


@dataclass
class Lane:
    account: PlatformAccount | None

    @property
    def key(self) -> int:
        return self.account.pk if self.account is not None else 0

    @property
    def label(self) -> str:
        return str(self.account) if self.account is not None else _("No account")

    @property
    def target_per_week(self) -> int:
        return self.account.target_posts_per_week if self.account is not None else 0

    @property
    def allowed_per_day(self) -> int:
        return max(1, math.ceil(self.target_per_week / 7))


@dataclass
class Chip:
    item: ContentItem
    lane_keys: tuple[int, ...]
    local_time: dt.time | None
    is_movable: bool


@dataclass
class Cell:
    lane: Lane
    day: dt.date
    chips: list[Chip]

    @property
    def count(self) -> int:
        return len(self.chips)

    @property
    def is_over(self) -> bool:
        return self.lane.account is not None and self.count > self.lane.allowed_per_day


@dataclass
class Day:
    date: dt.date
    in_range: bool
    is_today: bool
    is_past: bool
    chips: list[Chip]
    marks: list[observances.DayMark]
    occurrences: list[observances.Occurrence]
    over_lanes: list[Lane]

    @property
    def is_gap(self) -> bool:
        return self.in_range and not self.is_past and not self.chips

    @property
    def is_over(self) -> bool:
        return bool(self.over_lanes)

    @property
    def is_holiday(self) -> bool:
        return any(mark.kind == "holiday" for mark in self.marks)

    @property
    def is_working_day(self) -> bool:
        return any(mark.kind == "working_day" for mark in self.marks)


@dataclass
class WeekTotal:
    monday: dt.date
    planned: int
    target: int

    @property
    def shortfall(self) -> int:
        return max(0, self.target - self.planned)

    @property
    def excess(self) -> int:
        return max(0, self.planned - self.target) if self.target else 0


@dataclass
class LaneRow:
    lane: Lane
    cells: list[Cell]
    weeks: list[WeekTotal]

    @property
    def planned(self) -> int:
        return sum(cell.count for cell in self.cells)


@dataclass
class CalendarView:
    mode: str
    anchor: dt.date
    start: dt.date  # first shown day (a Monday)
    end: dt.date  # last shown day (a Sunday)
    range_start: dt.date  # the month or week asked for
    range_end: dt.date
    days: list[Day]
    lanes: list[LaneRow]
    long_occurrences: list[observances.Occurrence]  # month-long and announced observances
    notices: list[str]
    unscheduled: list[ContentItem] = field(default_factory=list)

    @property
    def weeks(self) -> list[list[Day]]:
        return [self.days[index : index + 7] for index in range(0, len(self.days), 7)]

    @property
    def previous(self) -> dt.date:
        if self.mode == WEEK:
            return self.anchor - dt.timedelta(days=7)
        return (self.range_start - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        if self.mode == WEEK:
            return self.anchor + dt.timedelta(days=7)
        return self.range_end + dt.timedelta(days=1)

    @property
    def gap_days(self) -> list[dt.date]:
        return [day.date for day in self.days if day.is_gap]

    @property
    def over_days(self) -> list[dt.date]:
        return [day.date for day in self.days if day.in_range and day.is_over]


def view_range(mode: str, anchor: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(first shown day, last shown day, first day asked for, last day asked for)."""
    if mode == WEEK:
        monday = anchor - dt.timedelta(days=anchor.weekday())
        return monday, monday + dt.timedelta(days=6), monday, monday + dt.timedelta(days=6)
    first = anchor.replace(day=1)
    last = observances.last_day_of_month(anchor.year, anchor.month)
    start = first - dt.timedelta(days=first.weekday())
    end = last + dt.timedelta(days=6 - last.weekday())
    return start, end, first, last


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def calendar_view(principal: Principal, *, mode: str, anchor: dt.date, now: dt.datetime | None = None) -> CalendarView:
    """The month or week around ``anchor`` as this principal may see it."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    start, end, range_start, range_end = view_range(mode, anchor)
    can_move = principal.allows(Action.CONTENT_WRITE)
    items = list(
        ContentItem.objects.filter(item_scope(principal))
        .filter(scheduled_at__gte=_local_midnight(start), scheduled_at__lt=_local_midnight(end + dt.timedelta(days=1)))
        .exclude(state=State.REJECTED)
        .select_related("department")
        .prefetch_related("target_accounts")
        .order_by("scheduled_at", "pk")
    )
    accounts = PlatformAccount.objects.filter(hospital=principal.hospital, is_active=True)
    departments = principal.department_ids_for(Action.CONTENT_VIEW)
    if departments is not None:
        # Department reviewers plan their own departments' accounts (and see the accounts their items target).
        targeted = {account.pk for item in items for account in item.target_accounts.all()}
        accounts = accounts.filter(Q(department_id__in=departments) | Q(pk__in=targeted))
    lanes = [Lane(account) for account in accounts.order_by("platform", "name", "pk")]
    if any(not item.target_accounts.all() for item in items):
        lanes.append(Lane(None))
    lane_by_key = {lane.key: lane for lane in lanes}

    chips_by_day: dict[dt.date, list[Chip]] = {}
    for item in items:
        local = timezone.localtime(item.scheduled_at)
        keys = tuple(account.pk for account in item.target_accounts.all() if account.pk in lane_by_key) or (0,)
        chip = Chip(item, keys, local.time(), can_move and item.state not in FIXED_STATES)
        chips_by_day.setdefault(local.date(), []).append(chip)

    marks = observances.day_marks(start, end)
    occurrences = observances.occurrences_between(start, end)
    short = [o for o in occurrences if not o.is_month_long]
    days, rows = [], {lane.key: LaneRow(lane, [], []) for lane in lanes}
    for offset in range((end - start).days + 1):
        date = start + dt.timedelta(days=offset)
        chips = chips_by_day.get(date, [])
        over = []
        for lane in lanes:
            cell = Cell(lane, date, [chip for chip in chips if lane.key in chip.lane_keys])
            rows[lane.key].cells.append(cell)
            if cell.is_over:
                over.append(lane)
        days.append(
            Day(
                date=date,
                in_range=range_start <= date <= range_end,
                is_today=date == today,
                is_past=date < today,
                chips=chips,
                marks=marks.of(date),
                occurrences=[o for o in short if o.covers(date)],
                over_lanes=over,
            )
        )
    for row in rows.values():
        for week in range(0, len(row.cells), 7):
            cells = row.cells[week : week + 7]
            row.weeks.append(WeekTotal(cells[0].day, sum(c.count for c in cells), row.lane.target_per_week))

    unscheduled: list[ContentItem] = []
    if can_move:
        unscheduled = list(
            ContentItem.objects.filter(item_scope(principal), scheduled_at__isnull=True)
            .exclude(state__in=FIXED_STATES)
            .order_by("-updated_at", "-pk")[:50]
        )
    return CalendarView(
        mode=mode,
        anchor=anchor,
        start=start,
        end=end,
        range_start=range_start,
        range_end=range_end,
        days=days,
        lanes=list(rows.values()),
        long_occurrences=[o for o in occurrences if o.is_month_long],
        notices=marks.notices,
        unscheduled=unscheduled,
    )


def movable_items(view: CalendarView) -> list[ContentItem]:
    """Items the reschedule form offers: the movable ones shown, then the unscheduled ones."""
    seen: dict[int, ContentItem] = {}
    for day in view.days:
        for chip in day.chips:
            if chip.is_movable:
                seen.setdefault(chip.item.pk, chip.item)
    for item in view.unscheduled:
        seen.setdefault(item.pk, item)
    return list(seen.values())


# --- rescheduling ---------------------------------------------------------------------------------------------


@transaction.atomic
def calendar_reschedule(
    *, principal: Principal, item_id: object, day: dt.date, time: dt.time | None = None,
    now: dt.datetime | None = None,
) -> ContentItem:  # fmt: skip
    """Move an item to ``day`` (at ``time``, or at its current time of day, or at 09:00 when it had none).

    Approvals are kept: an approved or scheduled item stays scheduled and no review starts again. A move past the
    validity of what the approval relied on (the patient's story consent, the advertising review certificate) or
    into the past is refused and changes nothing.
    """
    now = now or timezone.now()
    item = access_item(principal, item_id, Action.CONTENT_WRITE)
    item = ContentItem.objects.select_for_update(of=("self",)).select_related("story_patient").get(pk=item.pk)
    if item.state in FIXED_STATES:
        raise ApplicationError(
            _("A %(state)s item cannot be rescheduled.") % {"state": item.get_state_display()}, code="bad_state"
        )
    if time is None:
        time = timezone.localtime(item.scheduled_at).time() if item.scheduled_at else DEFAULT_PUBLISH_TIME
    when = timezone.make_aware(dt.datetime.combine(day, time.replace(second=0, microsecond=0)))
    if when <= now:
        raise ApplicationError(
            _("%(when)s has already passed: choose a later day or time.")
            % {"when": timezone.localtime(when).strftime("%Y-%m-%d %H:%M")},
            code="past",
            field="day",
        )
    if item.is_patient_story:
        from xinqiao.core.selectors import patient_consent_state

        consent = patient_consent_state(item.story_patient)["story_publication"] if item.story_patient else None
        if not story_consent_valid(consent, on=day):
            until = consent.valid_until.isoformat() if consent is not None and consent.valid_until else ""
            raise ApplicationError(
                _("The patient's consent to publish this story does not cover %(day)s (valid until %(until)s).")
                % {"day": day.isoformat(), "until": until or "—"},
                code="story_consent",
                field="day",
            )
    if item.is_ad and item.ad_certificate_valid_until and day > item.ad_certificate_valid_until:
        raise ApplicationError(
            _("The medical advertising review certificate is valid until %(until)s, before %(day)s.")
            % {"until": item.ad_certificate_valid_until.isoformat(), "day": day.isoformat()},
            code="ad_certificate_expired",
            field="day",
        )
    previous, previous_state = item.scheduled_at, item.state
    if previous == when:
        return item
    item = workflow.item_reschedule(principal=principal, item=item, scheduled_at=when, now=now)
    if item.state == previous_state and previous is not None:
        # The workflow records a transition only when an approved item becomes scheduled; keep every move.
        Transition.objects.create(
            item=item,
            revision=item.current_revision,
            from_state=item.state,
            to_state=item.state,
            action="rescheduled",
            actor=principal.user,
            comment=f"{timezone.localtime(previous):%Y-%m-%d %H:%M} → {timezone.localtime(when):%Y-%m-%d %H:%M}",
        )
    return item
