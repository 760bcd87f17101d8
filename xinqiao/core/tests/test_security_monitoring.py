"""Security monitoring (REQ-AUD-006): each rule at its exact boundary, idempotent delivery, hospital isolation."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from xinqiao.channels.models import Notification
from xinqiao.core import monitoring, services
from xinqiao.core.audit import audit_record
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import AuditEvent, Membership
from xinqiao.core.tasks import scan_security_events_task

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BASE = dt.datetime(2025, 1, 8, 10, 0, tzinfo=SHANGHAI)  # a Wednesday, 10:00 Beijing time
ADMIN_EMAIL = "security-admin@example.org"


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def admins(world):
    """The admin of hospital A and the outsider (admin of hospital B) have e-mail addresses."""
    world.users["admin"].email = ADMIN_EMAIL
    world.users["admin"].save(update_fields=["email"])
    world.users["outsider"].email = "outsider-admin@example.org"
    world.users["outsider"].save(update_fields=["email"])
    return world


def at(minutes: float = 0, seconds: float = 0, base: dt.datetime = BASE) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes, seconds=seconds)


def reveal(world, when: dt.datetime, persona: str = "service", patient: int = 0) -> None:
    with time_machine.travel(when, tick=False):
        services.patient_reveal(
            principal=world.principal(persona),
            patient=world.patients[patient],
            field="mobile",
            purpose=services.RevealPurpose.FOLLOW_UP,
        )


def export(world, when: dt.datetime, patient: int) -> None:
    with time_machine.travel(when, tick=False):
        services.patient_export(
            principal=world.principal("admin"),
            patient=world.patients[patient],
            purpose=services.ExportPurpose.SUBJECT_ACCESS,
        )


def admin_notices(hospital) -> list[Notification]:
    return list(Notification.objects.filter(hospital=hospital, audience_role=Membership.Role.ADMIN).order_by("pk"))


def scan(now: dt.datetime, capture) -> monitoring.ScanResult:
    with capture(execute=True):
        return monitoring.scan_security_events(now=now)


def event(pk: int, when: dt.datetime, **fields) -> AuditEvent:
    """An unsaved audit event for the pure rule functions."""
    values = {"hospital_id": 1, "actor_id": 7, "actor_label": "alice", "action": AuditEvent.Action.REVEAL,
              "result": AuditEvent.Result.OK, "object_type": "patient", "object_id": "3", "detail": {}}  # fmt: skip
    values.update(fields)
    return AuditEvent(pk=pk, created_at=when, **values)


# --- (a) reveals ---------------------------------------------------------------------------------------------


def test_twenty_reveals_in_an_hour_do_not_alert(admins, django_capture_on_commit_callbacks):
    for index in range(20):
        reveal(admins, at(minutes=2 * index))
    result = scan(at(minutes=45), django_capture_on_commit_callbacks)
    assert result.findings == []
    assert admin_notices(admins.hospital) == []
    assert len(mail.outbox) == 0


def test_the_twenty_first_reveal_alerts_once_by_notice_and_email(admins, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(admins, at(minutes=2 * index))
    anchor = AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).latest("pk")
    service = admins.users["service"]

    first = scan(at(minutes=45), django_capture_on_commit_callbacks)
    second = scan(at(minutes=50), django_capture_on_commit_callbacks)

    assert [f.key for f in first.new_alerts] == [f"sec:reveals:u{service.pk}:e{anchor.pk}"]
    assert first.findings[0].count == 21
    assert [f.key for f in second.findings] == [f"sec:reveals:u{service.pk}:e{anchor.pk}"]
    assert second.new_alerts == []
    notices = admin_notices(admins.hospital)
    assert len(notices) == 1
    assert notices[0].level == "warning"
    assert notices[0].message == (
        "Security: service revealed patient fields 21 times between 2025-01-08 10:00 and 2025-01-08 10:40 "
        "(the limit is 20 per hour)."
    )
    assert notices[0].link == (
        "/audit/?action=reveal&actor=service&date_from=2025-01-08&date_to=2025-01-08"
        f"#sec:reveals:u{service.pk}:e{anchor.pk}"
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [ADMIN_EMAIL]
    assert mail.outbox[0].subject == notices[0].message
    assert "/audit/?action=reveal&actor=service&date_from=2025-01-08&date_to=2025-01-08\n" in mail.outbox[0].body


def test_the_audit_link_opens_the_filtered_log(admins, client, password, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(admins, at(minutes=2 * index))
    scan(at(minutes=45), django_capture_on_commit_callbacks)
    client.login(username="admin", password=password)
    response = client.get(admin_notices(admins.hospital)[0].link.split("#")[0])
    assert response.status_code == 200
    assert len(response.context["page"].rows) == 21


def test_rolling_hour_boundary():
    # 21 reveals: the first exactly one hour before the last falls out of the window (t - 1 h, t].
    events = [event(pk, at(minutes=3 * pk)) for pk in range(20)] + [event(20, at(minutes=60))]
    assert monitoring.rule_reveal_burst(events, since=at(minutes=-120), alerted={}) == []
    events[-1] = event(20, at(minutes=59, seconds=59))
    findings = monitoring.rule_reveal_burst(events, since=at(minutes=-120), alerted={})
    assert [(f.key, f.count, f.window_start, f.window_end) for f in findings] == [
        ("sec:reveals:u7:e20", 21, at(), at(minutes=59, seconds=59))
    ]


def test_an_ongoing_burst_alerts_again_only_after_the_cooldown():
    events = [event(pk, at(minutes=2 * pk)) for pk in range(90)]  # 30 an hour for three hours
    findings = monitoring.rule_reveal_burst(events, since=at(minutes=-120), alerted={})
    assert [f.key for f in findings] == ["sec:reveals:u7:e20", "sec:reveals:u7:e50", "sec:reveals:u7:e80"]
    # What was alerted before (the stored anchor at e20 = 10:40) suppresses the next hour's candidates.
    later = monitoring.rule_reveal_burst(
        events, since=at(minutes=60), alerted={"1|sec:reveals:u7:": (at(minutes=40), 20)}
    )
    assert [f.key for f in later] == ["sec:reveals:u7:e50", "sec:reveals:u7:e80"]


def test_denied_reveals_are_not_counted_as_reveals():
    events = [event(pk, at(minutes=pk), result=AuditEvent.Result.DENIED) for pk in range(25)]
    assert monitoring.rule_reveal_burst(events, since=at(minutes=-120), alerted={}) == []


# --- (b) exports -----------------------------------------------------------------------------------------------


def test_single_patient_export_does_not_alert_but_a_second_patient_does(admins, django_capture_on_commit_callbacks):
    export(admins, at(), patient=0)
    export(admins, at(minutes=5), patient=0)  # the same data subject again is still one subject
    assert scan(at(minutes=10), django_capture_on_commit_callbacks).findings == []

    export(admins, at(minutes=20), patient=1)
    result = scan(at(minutes=25), django_capture_on_commit_callbacks)

    anchor = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).latest("pk")
    admin = admins.users["admin"]
    assert [f.key for f in result.new_alerts] == [f"sec:exports:u{admin.pk}:e{anchor.pk}"]
    notice = admin_notices(admins.hospital)[0]
    assert notice.level == "error"
    assert notice.message == (
        "Security: admin exported the personal data of at least 2 patients between 2025-01-08 10:00 and "
        "2025-01-08 10:20."
    )
    assert notice.link == (
        f"/audit/?action=export&actor=admin&date_from=2025-01-08&date_to=2025-01-08#sec:exports:u{admin.pk}:e{anchor.pk}"
    )


def test_an_export_flagged_as_bulk_alerts_with_its_size(admins, django_capture_on_commit_callbacks):
    with time_machine.travel(at(), tick=False):
        audit_record(action=AuditEvent.Action.EXPORT, principal=admins.principal("admin"), object_type="patient_list",
                     fields=["name", "mobile"], purpose="legal", detail={"subjects": 40})  # fmt: skip
    result = scan(at(minutes=5), django_capture_on_commit_callbacks)
    assert [f.count for f in result.new_alerts] == [40]


def test_report_exports_are_aggregates_and_never_alert(admins, django_capture_on_commit_callbacks):
    for index in range(5):
        with time_machine.travel(at(minutes=index), tick=False):
            audit_record(action=AuditEvent.Action.REPORT_EXPORT, principal=admins.principal("admin"),
                         object_type="analytics.report", object_id=index + 1)  # fmt: skip
    assert scan(at(minutes=10), django_capture_on_commit_callbacks).findings == []


def test_export_subjects_counts_distinct_subjects_and_declared_sizes():
    rows = [
        event(1, at(), action=AuditEvent.Action.EXPORT, object_id="3"),
        event(2, at(), action=AuditEvent.Action.EXPORT, object_id="3"),
        event(3, at(), action=AuditEvent.Action.EXPORT, object_id="4"),
        event(4, at(), action=AuditEvent.Action.EXPORT, object_type="patient_list", detail={"bulk": True}),
        event(5, at(), action=AuditEvent.Action.EXPORT, object_type="patient_list", detail={"subjects": 7}),
    ]
    assert monitoring.export_subjects(rows[:2]) == 1
    assert monitoring.export_subjects(rows[:3]) == 2
    assert monitoring.export_subjects(rows) == 2 + 2 + 7


# --- (c) outside working hours ---------------------------------------------------------------------------------


HOURS = (dt.time(8, 0), dt.time(20, 0))


@pytest.mark.parametrize(
    ("local", "period_start"),
    [
        (dt.datetime(2025, 1, 8, 7, 59, 59), "p202501072000"),  # Wednesday before 08:00: Tuesday night
        (dt.datetime(2025, 1, 8, 8, 0, 0), None),
        (dt.datetime(2025, 1, 8, 19, 59, 59), None),
        (dt.datetime(2025, 1, 8, 20, 0, 0), "p202501082000"),
        (dt.datetime(2025, 1, 11, 10, 0, 0), "p202501102000"),  # Saturday: Friday evening's period
        (dt.datetime(2025, 1, 13, 7, 0, 0), "p202501102000"),  # Monday early morning: the same weekend period
    ],
)
def test_after_hours_edges(local, period_start):
    when = local.replace(tzinfo=SHANGHAI)
    findings = monitoring.rule_after_hours([event(1, when)], since=when - dt.timedelta(hours=2), hours=HOURS)
    assert [f.key for f in findings] == ([f"sec:after_hours:u7:{period_start}"] if period_start else [])


def test_working_hours_come_from_settings(settings):
    settings.XINQIAO_SECURITY_WORK_START = "09:00"
    settings.XINQIAO_SECURITY_WORK_END = "18:30"
    assert monitoring.working_hours() == (dt.time(9, 0), dt.time(18, 30))
    early = event(1, dt.datetime(2025, 1, 8, 8, 30, tzinfo=SHANGHAI))
    late = event(2, dt.datetime(2025, 1, 8, 18, 29, tzinfo=SHANGHAI))
    assert [f.count for f in monitoring.rule_after_hours([early, late], since=at(minutes=-600))] == [1]


def test_after_hours_default_is_eight_to_twenty():
    assert monitoring.working_hours() == (dt.time(8, 0), dt.time(20, 0))


def test_night_access_alerts_once_per_actor_and_night(admins, django_capture_on_commit_callbacks):
    night = dt.datetime(2025, 1, 8, 22, 0, tzinfo=SHANGHAI)
    reveal(admins, night)
    first = scan(at(minutes=5, base=night), django_capture_on_commit_callbacks)
    reveal(admins, at(minutes=60, base=night), patient=1)
    second = scan(at(minutes=65, base=night), django_capture_on_commit_callbacks)

    service = admins.users["service"]
    assert [f.key for f in first.new_alerts] == [f"sec:after_hours:u{service.pk}:p202501082000"]
    assert second.new_alerts == []
    notices = admin_notices(admins.hospital)
    assert [n.message for n in notices] == [
        "Security: service revealed or exported patient identifiers outside working hours (first at "
        "2025-01-08 22:00; accesses: 1)."
    ]
    assert len(mail.outbox) == 1


# --- (d) denied ----------------------------------------------------------------------------------------------


def denied_reveal(world, when: dt.datetime) -> None:
    with time_machine.travel(when, tick=False), pytest.raises(ApplicationError):
        services.patient_reveal(principal=world.principal("service"), patient=world.patients[0], field="mobile",
                                purpose="")  # fmt: skip


def test_four_denied_attempts_do_not_alert_five_do(admins, django_capture_on_commit_callbacks):
    for index in range(4):
        denied_reveal(admins, at(minutes=2 * index))
    assert scan(at(minutes=9), django_capture_on_commit_callbacks).findings == []
    denied_reveal(admins, at(minutes=9, seconds=59))
    result = scan(at(minutes=12), django_capture_on_commit_callbacks)
    service = admins.users["service"]
    anchor = AuditEvent.objects.filter(result=AuditEvent.Result.DENIED).latest("pk")
    assert [f.key for f in result.new_alerts] == [f"sec:denied:u{service.pk}:e{anchor.pk}"]
    assert admin_notices(admins.hospital)[0].message == (
        "Security: 5 denied attempts by service between 2025-01-08 10:00 and 2025-01-08 10:09."
    )


def test_denied_window_is_shorter_than_ten_minutes():
    denied = AuditEvent.Result.DENIED
    rows = [event(pk, at(minutes=2.5 * pk), result=denied) for pk in range(4)]
    exactly_ten = [*rows, event(4, at(minutes=10), result=denied)]
    just_under = [*rows, event(4, at(minutes=9, seconds=59), result=denied)]
    assert monitoring.rule_denied_burst(exactly_ten, since=at(minutes=-60), alerted={}) == []
    assert [f.count for f in monitoring.rule_denied_burst(just_under, since=at(minutes=-60), alerted={})] == [5]


def test_failed_logins_from_one_address_alert(admins, client, django_capture_on_commit_callbacks):
    for index in range(5):
        with time_machine.travel(at(minutes=index), tick=False):
            client.post("/login/", {"username": "brand", "password": "wrong-password"}, REMOTE_ADDR="192.0.2.7")
    result = scan(at(minutes=6), django_capture_on_commit_callbacks)
    assert [(f.rule, f.actor, f.count) for f in result.new_alerts] == [("denied", "IP address 192.0.2.7", 5)]
    assert admin_notices(admins.hospital)[0].link.startswith(
        "/audit/?result=denied&date_from=2025-01-08&date_to=2025-01-08#sec:denied:i"
    )


# --- (e) disabled accounts ---------------------------------------------------------------------------------------


def test_login_attempt_with_a_disabled_account_alerts(admins, client, password, django_capture_on_commit_callbacks):
    user = admins.users["brand"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    with time_machine.travel(at(), tick=False):
        response = client.post("/login/", {"username": "brand", "password": password})
    assert response.status_code == 200  # refused
    result = scan(at(minutes=5), django_capture_on_commit_callbacks)
    attempt = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert attempt.detail == {"reason": "inactive"}  # recorded at the attempt, so a later reactivation keeps it
    assert [f.key for f in result.new_alerts] == [f"sec:disabled:u{user.pk}:e{attempt.pk}"]
    notice = admin_notices(admins.hospital)[0]
    assert notice.level == "error"
    assert notice.message == (
        "Security: the disabled account brand was used to try to sign in (first at 2025-01-08 10:00; attempts: 1)."
    )
    assert notice.link == (
        f"/audit/?object_id={user.pk}&date_from=2025-01-08&date_to=2025-01-08#sec:disabled:u{user.pk}:e{attempt.pk}"
    )


def test_sign_in_after_the_membership_was_removed_alerts(admins, client, password, django_capture_on_commit_callbacks):
    user = admins.users["brand"]
    with time_machine.travel(at(minutes=-30), tick=False):
        services.membership_set_roles(principal=admins.principal("admin"), user=user, roles=[], department_ids=[])
    with time_machine.travel(at(), tick=False):
        client.post("/login/", {"username": "brand", "password": password})
    login = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert login.hospital_id is None
    result = scan(at(minutes=5), django_capture_on_commit_callbacks)
    assert [(f.hospital_id, f.key) for f in result.new_alerts] == [
        (admins.hospital.pk, f"sec:disabled:u{user.pk}:e{login.pk}")
    ]
    assert admin_notices(admins.hospital)[0].message == (
        "Security: brand, whose membership of this hospital was removed, signed in or tried to (first at "
        "2025-01-08 10:00; attempts: 1)."
    )
    assert admin_notices(admins.other_hospital) == []


def test_a_failed_login_marked_inactive_alerts_even_if_reactivated_since():
    failed = event(9, at(), action=AuditEvent.Action.LOGIN_FAILED, actor_id=None, object_type="user", object_id="7")
    marked = event(9, at(), action=AuditEvent.Action.LOGIN_FAILED, actor_id=None, object_type="user", object_id="7",
                   detail={"reason": "inactive"})  # fmt: skip
    state = monitoring.AccountState(usernames={7: "alice"})
    assert monitoring.rule_disabled_account([failed], since=at(minutes=-60), alerted={}, state=state) == []
    findings = monitoring.rule_disabled_account([marked], since=at(minutes=-60), alerted={}, state=state)
    assert [(f.key, f.actor, f.variant) for f in findings] == [("sec:disabled:u7:e9", "alice", "disabled")]


def test_a_login_of_an_active_member_is_not_an_alert(admins, client, password, django_capture_on_commit_callbacks):
    with time_machine.travel(at(), tick=False):
        client.post("/login/", {"username": "brand", "password": password})
    assert scan(at(minutes=5), django_capture_on_commit_callbacks).findings == []


# --- delivery ------------------------------------------------------------------------------------------------


def test_other_hospitals_are_not_alerted(admins, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(admins, at(minutes=2 * index))
    scan(at(minutes=45), django_capture_on_commit_callbacks)
    assert admin_notices(admins.other_hospital) == []
    assert Notification.objects.exclude(audience_role=Membership.Role.ADMIN).count() == 0
    assert [message.to for message in mail.outbox] == [[ADMIN_EMAIL]]


def test_a_burst_in_the_other_hospital_alerts_only_its_admins(admins, django_capture_on_commit_callbacks):
    outsider = admins.principal("outsider")
    for index in range(21):
        with time_machine.travel(at(minutes=index), tick=False):
            services.patient_reveal(principal=outsider, patient=admins.other_patient, field="name",
                                    purpose=services.RevealPurpose.COMPLAINT)  # fmt: skip
    scan(at(minutes=30), django_capture_on_commit_callbacks)
    assert admin_notices(admins.hospital) == []
    assert len(admin_notices(admins.other_hospital)) == 1
    assert [message.to for message in mail.outbox] == [["outsider-admin@example.org"]]


def test_messages_hold_no_patient_data(admins, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(admins, at(minutes=2 * index), patient=index % 3)
    export(admins, at(minutes=41), patient=0)
    export(admins, at(minutes=42), patient=1)
    night = dt.datetime(2025, 1, 8, 21, 0, tzinfo=SHANGHAI)
    reveal(admins, night, patient=2)
    scan(at(minutes=45), django_capture_on_commit_callbacks)
    scan(at(minutes=5, base=night), django_capture_on_commit_callbacks)

    notices = admin_notices(admins.hospital)
    assert sorted(n.link.split("#")[1].split(":")[1] for n in notices) == ["after_hours", "exports", "reveals"]
    assert len(mail.outbox) == 3
    texts = [n.message + n.link for n in notices] + [m.subject + m.body for m in mail.outbox]
    secrets = [value for pii in admins.pii.values() for value in pii.values() if value]
    secrets += [p.name_masked for p in admins.patients] + [p.mobile_masked for p in admins.patients]
    for text in texts:
        assert [secret for secret in secrets if secret in text] == []
        assert "object_id" not in text


def test_no_email_without_admin_addresses(world, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(world, at(minutes=2 * index))
    result = scan(at(minutes=45), django_capture_on_commit_callbacks)
    assert (len(result.new_alerts), result.emails, len(mail.outbox)) == (1, 0, 0)
    assert len(admin_notices(world.hospital)) == 1


def test_task_and_command_run_the_scan(admins, django_capture_on_commit_callbacks):
    for index in range(21):
        reveal(admins, at(minutes=index))
    with time_machine.travel(at(minutes=30), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert scan_security_events_task.call() == {"findings": 1, "new_alerts": 1, "emails": 1}
        out = io.StringIO()
        call_command("security_scan", "--since-minutes", "60", stdout=out)
    service = admins.users["service"]
    assert out.getvalue().splitlines() == [
        f"[already alerted] reveals hospital #{admins.hospital.pk} service: 21 (2025-01-08 10:00 – 2025-01-08 10:20)",
        "1 findings, 0 new alerts, 0 e-mails.",
    ]
    anchor = AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).latest("pk")
    assert admin_notices(admins.hospital)[0].link.endswith(f"#sec:reveals:u{service.pk}:e{anchor.pk}")
    assert len(mail.outbox) == 1


def test_routes_subscribed_to_security_alerts_get_each_alert_once_through_the_outbox(
    admins, django_capture_on_commit_callbacks
):
    from xinqiao.integrations import services as integrations
    from xinqiao.integrations.models import OutboundMessage

    route = integrations.notification_route_create(
        principal=admins.principal("admin"),
        data=integrations.RouteInput(
            name="安全值班", kind="email", emails=["security@example.org"], purposes=["security"]
        ),
    )
    for index in range(21):
        reveal(admins, at(minutes=2 * index))
    scan(at(minutes=45), django_capture_on_commit_callbacks)
    scan(at(minutes=50), django_capture_on_commit_callbacks)

    [queued] = OutboundMessage.objects.filter(purpose="security")
    notice = admin_notices(admins.hospital)[0]
    assert (queued.route_id, queued.subject, queued.dedup_key) == (route.pk, notice.message, notice.link.split("#")[1])
    assert queued.status == OutboundMessage.Status.SENT  # delivered after commit (the tests' immediate task backend)
    assert sorted(recipient for message in mail.outbox for recipient in message.to) == [
        ADMIN_EMAIL,
        "security@example.org",
    ]


def failing_mailer(monkeypatch, failures: int) -> list[int]:
    """Make the first ``failures`` sends raise as a down mail server does; returns the list of attempts made."""
    from xinqiao.integrations import email

    real = email.email_send
    attempts: list[int] = []

    def send(**kwargs):
        attempts.append(1)
        if len(attempts) <= failures:
            raise ConnectionRefusedError("mail server down")
        return real(**kwargs)

    monkeypatch.setattr(email, "email_send", send)
    return attempts


def test_an_alert_email_is_retried_when_the_mail_server_fails(admins, django_capture_on_commit_callbacks, monkeypatch):
    attempts = failing_mailer(monkeypatch, failures=2)
    for index in range(21):
        reveal(admins, at(minutes=2 * index))

    result = scan(at(minutes=45), django_capture_on_commit_callbacks)

    assert len(result.new_alerts) == 1
    assert len(attempts) == 3  # two failures, then sent (the test backend runs each retry at once)
    assert [message.to for message in mail.outbox] == [[ADMIN_EMAIL]]


def test_an_alert_email_gives_up_after_the_last_attempt(admins, monkeypatch, caplog):
    from xinqiao.core.tasks import SECURITY_EMAIL_BACKOFF, send_security_email

    attempts = failing_mailer(monkeypatch, failures=99)
    with caplog.at_level("WARNING", logger="xinqiao.core.tasks"):
        send_security_email.enqueue(hospital_id=admins.hospital.pk, subject="s", body="b", key="sec:test")
    assert len(attempts) == len(SECURITY_EMAIL_BACKOFF) + 1
    assert mail.outbox == []
    assert "sec:test: e-mail failed 5 times" in caplog.text


def test_on_the_database_backend_the_retry_waits(admins, monkeypatch, settings):
    from django_tasks_db.models import DBTaskResult

    from xinqiao.core.tasks import SECURITY_EMAIL_BACKOFF, send_security_email

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    failing_mailer(monkeypatch, failures=1)
    before = dt.datetime.now(dt.UTC)

    send_security_email.call(hospital_id=admins.hospital.pk, subject="s", body="b", key="sec:test")

    retry = DBTaskResult.objects.get(task_path="xinqiao.core.tasks.send_security_email")
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    assert retry.run_after >= before + dt.timedelta(seconds=SECURITY_EMAIL_BACKOFF[0])
    assert mail.outbox == []
