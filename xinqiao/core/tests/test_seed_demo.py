"""seed_demo: the demo hospitals, their people and patients; deterministic, idempotent, leak-free."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import Client
from django.utils import timezone, translation

from xinqiao.core import demo, vault
from xinqiao.core.audit import audit_record
from xinqiao.core.models import AuditEvent, Consent, Department, Doctor, Hospital, Membership, Patient, Visit
from xinqiao.core.services import patient_unseal
from xinqiao.lib.identity import mask_id_number, mask_mobile, mask_name, parse_resident_id

User = get_user_model()
PATIENTS = 200


@pytest.fixture(autouse=True)
def english():
    """The assertions read the English msgids; the default language is Simplified Chinese."""
    with translation.override("en"):
        yield


def seed(**options) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo", stdout=out, stderr=out, **{"seed": 11, "patients": PATIENTS, "core_only": True, **options}
    )
    return out.getvalue()


def table_counts() -> dict[str, int]:
    return {
        "hospitals": Hospital.objects.count(),
        "departments": Department.objects.count(),
        "doctors": Doctor.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "patients": Patient.objects.count(),
        "consents": Consent.objects.count(),
        "visits": Visit.objects.count(),
    }


def fingerprint() -> list[tuple]:
    """What seed_demo decides about patients, visits and consents, without pks and blind indexes (both
    depend on the row ids a run gets)."""
    patients = [
        (
            p.hospital.code,
            p.name_masked,
            p.mobile_masked,
            p.id_number_masked,
            p.sex,
            p.birth_date,
            p.source_channel,
            p.first_department.code,
            p.created_at,
        )
        for p in Patient.objects.select_related("hospital", "first_department").order_by("pk")
    ]
    visits = list(
        Visit.objects.order_by("pk").values_list(
            "department__code", "doctor__name", "kind", "occurred_on", "channel", "revenue_fen", "created_at"
        )
    )
    consents = list(
        Consent.objects.order_by("pk").values_list(
            "purpose", "action", "channel", "notice_version", "scope", "recorded_at"
        )
    )
    return [*patients, *visits, *consents]


@pytest.mark.django_db
def test_creates_the_demo_hospitals():
    # when
    output = seed()

    # then
    main = Hospital.objects.get(code="demo")
    mch = Hospital.objects.get(code="demo-mch")
    assert (main.name, main.short_name, main.grade, main.city, main.is_active) == (
        "心桥市第一人民医院",
        "市一院",
        "三级甲等",
        "心桥市",
        True,
    )
    assert "市一院" in main.aliases
    assert (mch.name, mch.is_active) == ("心桥市妇幼保健院", True)
    assert Department.objects.filter(hospital=main).count() == 12
    assert Department.objects.filter(hospital=main, code="cardiology", name="心内科").count() == 1
    assert Doctor.objects.filter(hospital=main).count() == 40
    assert Doctor.objects.filter(hospital=main, is_ip=True).count() == 8
    assert Doctor.objects.filter(hospital=main).values("name").distinct().count() == 40
    assert set(Doctor.objects.filter(hospital=main).values_list("title", flat=True)) <= set(Doctor.Title.values)
    # every doctor works in exactly one department of their hospital, and every department has doctors
    assert Doctor.departments.through.objects.filter(doctor__hospital=main, department__hospital=main).count() == 40
    assert Department.objects.filter(hospital=main).annotate(n=Count("doctors")).filter(n__lt=3).count() == 0
    assert Patient.objects.filter(hospital=main).count() == PATIENTS
    assert Patient.objects.filter(hospital=mch).count() == demo.MCH_PATIENTS
    assert f"demo: departments 12, doctors 40, doctor_ips 8, users 8, patients {PATIENTS}," in output


@pytest.mark.django_db
def test_creates_one_user_per_role_with_the_demo_password(monkeypatch):
    monkeypatch.setenv("XINQIAO_DEMO_PASSWORD", "another-demo-password")

    seed()

    roles = {
        (m.user.username, m.hospital.code, m.role, tuple(d.code for d in m.departments.all()))
        for m in Membership.objects.select_related("user", "hospital").prefetch_related("departments")
    }
    assert roles == {
        ("admin", "demo", "admin", ()),
        ("brand", "demo", "brand", ()),
        ("brand_lead", "demo", "brand", ()),
        ("reviewer_cardiology", "demo", "dept_reviewer", ("cardiology",)),
        ("medical_affairs", "demo", "medical_affairs", ()),
        ("service", "demo", "service", ()),
        ("health_manager", "demo", "health_manager", ()),
        ("leadership", "demo", "leadership", ()),
        ("admin_mch", "demo-mch", "admin", ()),
    }
    assert User.objects.count() == 8 + 1
    service = User.objects.get(username="service")
    assert service.first_name == "孙悦"
    assert service.check_password("another-demo-password")
    assert not service.check_password(demo.DEFAULT_PASSWORD)


@pytest.mark.django_db
def test_patients_carry_valid_consistent_identifiers():
    seed()

    today = timezone.localdate()
    id_bidx = []
    for patient in Patient.objects.order_by("pk"):
        name, mobile, id_number = (patient_unseal(patient, f) for f in ("name", "mobile", "id_number"))
        assert 2 <= len(name) <= 4
        assert patient.name_masked == mask_name(name)
        assert mobile[:3] in demo.MOBILE_PREFIXES
        assert len(mobile) == 11
        assert patient.mobile_masked == mask_mobile(mobile)
        assert patient.sex in ("M", "F")
        assert patient.birth_date < patient.created_at.date() <= today
        assert patient.pii_key_version == vault.active_key_version()
        if id_number:
            parsed = parse_resident_id(id_number, today=today)
            assert (parsed.birth_date, parsed.sex) == (patient.birth_date, patient.sex)
            assert patient.id_number_masked == mask_id_number(id_number)
            id_bidx.append((patient.hospital_id, patient.id_number_bidx))
        else:
            assert (patient.id_number_masked, patient.id_number_bidx) == ("", None)
    assert len(id_bidx) == len(set(id_bidx))
    # obstetrics is women only, pediatrics is children only
    assert Patient.objects.filter(first_department__code="obstetrics-gynecology", sex="M").count() == 0
    assert (
        Patient.objects.filter(
            first_department__code="pediatrics", birth_date__lt=today.replace(year=today.year - 17)
        ).count()
        == 0
    )


@pytest.mark.django_db
def test_visits_and_consents_are_consistent():
    seed()

    today = timezone.localdate()
    for visit in Visit.objects.select_related("patient", "department", "doctor"):
        assert visit.hospital_id == visit.patient.hospital_id == visit.department.hospital_id
        assert list(visit.doctor.departments.all()) == [visit.department]
        assert isinstance(visit.revenue_fen, int)
        assert visit.channel in Patient.SourceChannel.values
        if visit.kind == Visit.Kind.VISIT:
            assert visit.revenue_fen >= 500
            assert today.replace(year=today.year - 1) <= visit.occurred_on < today
            assert visit.occurred_on >= timezone.localtime(visit.patient.created_at).date()
        else:
            assert visit.revenue_fen == 0
    # patients registered in the last 12 months were registered at their first visit
    year_ago = today.replace(year=today.year - 1)
    for patient in Patient.objects.all():
        registered = timezone.localtime(patient.created_at).date()
        if registered > year_ago:
            first = Visit.objects.filter(patient=patient, kind=Visit.Kind.VISIT).order_by("occurred_on", "pk").first()
            assert (first.occurred_on, first.channel, first.department_id) == (
                registered,
                patient.source_channel,
                patient.first_department_id,
            )
    assert Visit.objects.filter(kind=Visit.Kind.APPOINTMENT, occurred_on__gte=today).count() >= 1
    for consent in Consent.objects.select_related("patient"):
        assert consent.hospital_id == consent.patient.hospital_id
        assert consent.recorded_at > consent.patient.created_at
        if consent.purpose == Consent.Purpose.STORY_PUBLICATION and consent.action == Consent.Action.GRANT:
            assert set(consent.scope) == {"allow_face", "allow_voice", "allow_real_name"}
    # a withdrawal always follows a grant of the same purpose
    withdrawals = Consent.objects.filter(action=Consent.Action.WITHDRAW)
    for withdrawal in withdrawals:
        assert (
            Consent.objects.filter(
                patient=withdrawal.patient,
                purpose=withdrawal.purpose,
                action=Consent.Action.GRANT,
                recorded_at__lt=withdrawal.recorded_at,
            ).count()
            == 1
        )


@pytest.mark.django_db
def test_running_again_changes_nothing():
    seed()
    before = table_counts()
    head = fingerprint()

    output = seed(patients=50, seed=99)

    assert "Demo data already present; nothing changed" in output
    assert table_counts() == before
    assert fingerprint() == head


@pytest.mark.django_db
def test_same_seed_gives_the_same_data_whatever_the_batching():
    # given: one run drawing in-process in one batch
    seed(batch_size=5000)
    first = fingerprint()
    mobiles = list(Patient.objects.filter(hospital__code="demo").order_by("pk").values_list("mobile_masked", flat=True))

    # when: a fresh run with small batches drawn by a background process
    seed(batch_size=40, reset=True)

    # then
    assert fingerprint() == first
    again = list(Patient.objects.filter(hospital__code="demo").order_by("pk").values_list("mobile_masked", flat=True))
    assert again == mobiles
    assert len(set(mobiles)) == PATIENTS


@pytest.mark.django_db
def test_another_seed_gives_other_patients():
    seed(seed=1)
    first = list(Patient.objects.order_by("pk").values_list("mobile_masked", flat=True))

    seed(seed=2, reset=True)

    second = list(Patient.objects.order_by("pk").values_list("mobile_masked", flat=True))
    assert len(second) == len(first) == PATIENTS + demo.MCH_PATIENTS
    assert len(set(first) & set(second)) < 5


@pytest.mark.django_db
def test_reset_recreates_and_keeps_audited_hospitals():
    seed()
    main = Hospital.objects.get(code="demo")
    audit_record(action=AuditEvent.Action.LOGIN, hospital=main, actor_label="admin")
    mch_pk = Hospital.objects.get(code="demo-mch").pk
    old_patient_pks = set(Patient.objects.values_list("pk", flat=True))

    output = seed(reset=True, patients=30)

    assert "Demo data created" in output
    assert Hospital.objects.get(code="demo").pk == main.pk  # the audit log still points at it
    assert Hospital.objects.get(code="demo-mch").pk != mch_pk
    assert Patient.objects.filter(hospital=main).count() == 30
    assert set(Patient.objects.values_list("pk", flat=True)).isdisjoint(old_patient_pks)
    assert Department.objects.filter(hospital=main).count() == 12
    assert Doctor.objects.filter(hospital=main).count() == 40
    assert User.objects.count() == 9
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_an_interrupted_seed_asks_for_reset():
    seed()
    Hospital.objects.filter(code="demo").update(is_active=False)  # what an interrupted run leaves
    before = table_counts()

    with pytest.raises(CommandError, match="--reset"):
        seed()

    assert table_counts() == before


@pytest.mark.django_db
def test_refuses_usernames_taken_outside_the_demo():
    User.objects.create_user(username="brand", password="whatever-long-password")

    with pytest.raises(CommandError, match="brand"):
        seed()

    assert Hospital.objects.count() == 0
    assert Patient.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("option", [{"patients": -1}, {"batch_size": 0}])
def test_rejects_bad_numbers(option):
    with pytest.raises(CommandError):
        seed(**option)

    assert Hospital.objects.count() == 0


@pytest.mark.django_db
def test_output_holds_no_patient_identifier():
    output = seed()

    for patient in Patient.objects.all():
        for field in ("name", "mobile", "id_number"):
            value = patient_unseal(patient, field)
            if len(value) >= 2:
                assert value not in output


@pytest.mark.django_db
def test_each_hospital_sees_only_its_own_patients():
    seed()
    mch = Hospital.objects.get(code="demo-mch")

    client = Client()
    assert client.login(username="admin_mch", password=demo.DEFAULT_PASSWORD)
    body = client.get("/patients/").content.decode()

    ids = [int(pk) for pk in re.findall(r'href="/patients/(\d+)/"', body)]
    assert len(ids) == demo.MCH_PATIENTS
    assert set(ids) == set(Patient.objects.filter(hospital=mch).values_list("pk", flat=True))
    other = Patient.objects.filter(hospital__code="demo").order_by("pk").first()
    assert client.get(f"/patients/{other.pk}/").status_code == 404
