"""Test data builders. All identifiers are synthetic (REQ-OPS-001)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from xinqiao.core.access import Principal, principal_for_user
from xinqiao.core.models import Department, Doctor, Hospital, Membership, Patient
from xinqiao.core.services import PatientInput, patient_create
from xinqiao.lib.identity import generate_resident_id

User = get_user_model()
Role = Membership.Role


@dataclass
class HospitalWorld:
    hospital: Hospital
    other_hospital: Hospital
    departments: dict[str, Department]
    doctors: list[Doctor]
    users: dict[str, object]  # persona -> user
    patients: list[Patient]
    other_patient: Patient
    pii: dict[int, dict[str, str]] = field(default_factory=dict)  # patient pk -> clear identifiers

    def principal(self, persona: str) -> Principal:
        user = self.users[persona]
        hospital = self.other_hospital if persona == "outsider" else self.hospital
        principal = principal_for_user(user, hospital)
        assert principal is not None
        return principal


# persona -> (role, department codes); "outsider" is an admin of the other hospital.
PERSONAS: dict[str, tuple[str, list[str]]] = {
    "admin": (Role.ADMIN, []),
    "brand": (Role.BRAND, []),
    "dept_reviewer": (Role.DEPT_REVIEWER, ["cardiology"]),
    "medical_affairs": (Role.MEDICAL_AFFAIRS, []),
    "service": (Role.SERVICE, []),
    "health_manager": (Role.HEALTH_MANAGER, []),
    "leadership": (Role.LEADERSHIP, []),
}


def make_user(username: str, password: str, hospital: Hospital, role: str, departments=()):
    user = User.objects.create_user(username=username, password=password, first_name=username)
    membership = Membership.objects.create(user=user, hospital=hospital, role=role)
    if departments:
        membership.departments.set(departments)
    return user


def build_world(*, password: str) -> HospitalWorld:
    hospital = Hospital.objects.create(name="测试第一人民医院", short_name="一院", code="test-first")
    other = Hospital.objects.create(name="测试第二人民医院", short_name="二院", code="test-second")
    departments = {
        code: Department.objects.create(hospital=hospital, name=name, code=code)
        for code, name in [("cardiology", "心内科"), ("pediatrics", "儿科"), ("endocrinology", "内分泌科")]
    }
    other_department = Department.objects.create(hospital=other, name="心内科", code="cardiology")
    doctor = Doctor.objects.create(hospital=hospital, name="王建国", title=Doctor.Title.CHIEF, is_ip=True)
    doctor.departments.set([departments["cardiology"]])
    users = {}
    for persona, (role, codes) in PERSONAS.items():
        users[persona] = make_user(persona, password, hospital, role, [departments[c] for c in codes])
    users["outsider"] = make_user("outsider", password, other, Role.ADMIN)
    admin_principal = principal_for_user(users["admin"], hospital)
    patients, pii = [], {}
    samples = [
        ("张伟", "13800138000", "cardiology", dt.date(1960, 3, 14), True),
        ("李娜", "13912345678", "pediatrics", dt.date(1988, 7, 2), False),
        ("欧阳娜娜", "15011112222", "endocrinology", dt.date(1975, 11, 30), False),
    ]
    for index, (name, mobile, code, birth, male) in enumerate(samples):
        id_number = generate_resident_id("110105", birth, index + 1, male=male)
        patient = patient_create(
            principal=admin_principal,
            data=PatientInput(
                name=name,
                mobile=mobile,
                id_number=id_number,
                source_channel=Patient.SourceChannel.WECHAT_OA,
                first_department_id=departments[code].pk,
            ),
        )
        patients.append(patient)
        pii[patient.pk] = {"name": name, "mobile": mobile, "id_number": id_number}
    other_principal = principal_for_user(users["outsider"], other)
    other_patient = patient_create(
        principal=other_principal,
        data=PatientInput(
            name="赵敏",
            mobile="13700001111",
            id_number=generate_resident_id("310101", dt.date(1990, 1, 1), 9, male=False),
            source_channel=Patient.SourceChannel.WALK_IN,
            first_department_id=other_department.pk,
        ),
    )
    pii[other_patient.pk] = {"name": "赵敏", "mobile": "13700001111"}
    return HospitalWorld(
        hospital=hospital,
        other_hospital=other,
        departments=departments,
        doctors=[doctor],
        users=users,
        patients=patients,
        other_patient=other_patient,
        pii=pii,
    )
