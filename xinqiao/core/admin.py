from __future__ import annotations

from django.contrib import admin

from xinqiao.core.models import Department, Doctor, Hospital, HospitalGroup


@admin.register(HospitalGroup)
class HospitalGroupAdmin(admin.ModelAdmin):
    list_display = ["name"]


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "group", "is_active"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "hospital"]
    list_filter = ["hospital"]


@admin.register(Doctor)
class DoctorAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "hospital", "is_ip"]
    list_filter = ["hospital", "is_ip"]
