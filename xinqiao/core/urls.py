from django.urls import path

from xinqiao.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("sudo/", views.sudo_view, name="sudo"),
    path("hospital/switch/", views.switch_hospital, name="switch_hospital"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/reveal/", views.patient_reveal, name="patient_reveal"),
    path("patients/<int:pk>/masked/<str:field>/", views.patient_masked_field, name="patient_masked_field"),
    path("patients/<int:pk>/consents/", views.patient_consent, name="patient_consent"),
    path("patients/<int:pk>/visits/", views.patient_visit, name="patient_visit"),
    path("patients/<int:pk>/export/", views.patient_export, name="patient_export"),
    path("patients/<int:pk>/erase/", views.patient_erase, name="patient_erase"),
    path("organisation/", views.organisation, name="organisation"),
    path("members/", views.member_list, name="member_list"),
    path("members/new/", views.member_create, name="member_create"),
    path("members/<int:user_id>/", views.member_edit, name="member_edit"),
    path("api-keys/", views.api_key_list, name="api_key_list"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("audit/", views.audit_list, name="audit_list"),
    path("retention/", views.retention_page, name="retention"),
    path("retention/holds/<int:pk>/release/", views.legal_hold_release, name="legal_hold_release"),
    path("system/", views.system_status, name="system_status"),
    path("health/live", views.health_live, name="health_live"),
    path("health/ready", views.health_ready, name="health_ready"),
    path("health/background", views.health_background, name="health_background"),
    path("health/backup", views.health_backup, name="health_backup"),
]
