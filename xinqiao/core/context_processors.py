"""Navigation by role: each entry is shown only when the active principal may use it."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from xinqiao.core.access import Action

NAVIGATION = [
    ("home", _("Workbench"), Action.DASHBOARD_VIEW, "core:home"),
    ("patients", _("Patients"), Action.PATIENT_VIEW, "core:patient_list"),
    ("organisation", _("Departments & doctors"), Action.ORG_VIEW, "core:organisation"),
    ("members", _("Members & roles"), Action.MEMBERSHIP_MANAGE, "core:member_list"),
    ("api_keys", _("API keys"), Action.APIKEY_MANAGE, "core:api_key_list"),
    ("audit", _("Audit log"), Action.AUDIT_VIEW, "core:audit_list"),
    ("retention", _("Retention & legal holds"), Action.RETENTION_MANAGE, "core:retention"),
    ("system", _("System status"), Action.SYSTEM_VIEW, "core:system_status"),
    ("content", _("Content library"), Action.CONTENT_VIEW, "content:item_list"),
    ("calendar", _("Editorial calendar"), Action.CONTENT_VIEW, "content:calendar"),
    ("review_queue", _("Review queue"), Action.CONTENT_VIEW, "content:review_queue"),
    ("accounts", _("Account matrix"), Action.CHANNEL_VIEW, "channels:account_list"),
    ("notifications", _("Notifications"), Action.DASHBOARD_VIEW, "channels:notification_list"),
    ("listening", _("Public opinion"), Action.LISTENING_VIEW, "listening:dashboard"),
    ("mentions", _("Mentions"), Action.LISTENING_VIEW, "listening:mention_list"),
    ("alerts", _("Alerts"), Action.LISTENING_VIEW, "listening:alert_list"),
    ("cases", _("Crisis cases"), Action.LISTENING_VIEW, "listening:case_list"),
    ("analytics", _("Analytics"), Action.ANALYTICS_VIEW, "analytics:overview"),
    ("metric_imports", _("Metric imports"), Action.ANALYTICS_VIEW, "analytics:import_list"),
    ("reports", _("Reports"), Action.REPORT_VIEW, "analytics:report_list"),
    ("compliance_rules", _("Compliance rules"), Action.CONTENT_POLICY_MANAGE, "content:rule_list"),
    ("review_policies", _("Review policies"), Action.CONTENT_POLICY_MANAGE, "content:policy_list"),
    ("notification_routes", _("Notification routes"), Action.INTEGRATION_MANAGE, "integrations:route_list"),
]


def navigation(request: HttpRequest) -> dict:
    principal = getattr(request, "principal", None)
    if principal is None:
        return {"nav_items": [], "active_hospital": None}
    items = [
        {"key": key, "label": label, "url": reverse(url_name)}
        for key, label, action, url_name in NAVIGATION
        if principal.allows(action)
    ]
    return {
        "nav_items": items,
        "active_hospital": principal.hospital,
        "user_hospitals": getattr(request, "hospitals", []),
        "user_roles": sorted(principal.roles),
    }
