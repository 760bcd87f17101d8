"""Mention pages: list with filters, mention and cluster detail, file import (upload → preview → commit), batches,
and the lexicon editor (crisis topics, watched names). ``listening.view`` reads, ``listening.manage`` changes.

Mention texts are data from the public: templates print them with autoescaping only (never ``|safe``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xinqiao.core.access import Action, parse_pk
from xinqiao.core.exceptions import ApplicationError
from xinqiao.core.models import Department, Doctor
from xinqiao.core.views import _apply_error, member_required
from xinqiao.core.widgets import DatePicker
from xinqiao.listening import lexicon
from xinqiao.listening.models import MentionBatch, Platform, Sentiment, WatchedName
from xinqiao.listening.selectors import mentions as selectors
from xinqiao.listening.services import ingest, pulls

FIELD_LABELS = {
    "platform": gettext_lazy("Platform"),
    "external_id": gettext_lazy("External id"),
    "url": gettext_lazy("URL"),
    "author_handle": gettext_lazy("Author"),
    "author_followers": gettext_lazy("Author followers"),
    "is_verified_author": gettext_lazy("Verified author"),
    "text": gettext_lazy("Text"),
    "posted_at": gettext_lazy("Posted at"),
    "likes": gettext_lazy("Likes"),
    "reposts": gettext_lazy("Reposts"),
    "comments": gettext_lazy("Comments"),
    "parent_external_id": gettext_lazy("Reposted from (external id)"),
}


class MentionFilterForm(forms.Form):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=DatePicker())
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=DatePicker())
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    entity = forms.ChoiceField(label=gettext_lazy("Names"), required=False)
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), required=False)
    sentiment = forms.ChoiceField(label=gettext_lazy("Sentiment"), required=False)
    cluster = forms.IntegerField(label=gettext_lazy("Cluster"), required=False, min_value=1, max_value=2**62)
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)

    def __init__(self, *args, entities: dict[str, str], topics: list, **kwargs):
        super().__init__(*args, **kwargs)
        anything = [("", _("All"))]
        self.fields["platform"].choices = anything + list(Platform.choices)
        self.fields["entity"].choices = anything + list(entities.items())
        self.fields["topic"].choices = anything + [(topic.code, topic.name) for topic in topics]
        self.fields["sentiment"].choices = anything + list(Sentiment.choices)

    def filters(self) -> selectors.MentionFilters:
        self.is_valid()
        data = self.cleaned_data  # an invalid field is left out, the others still filter
        return selectors.MentionFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            platform=data.get("platform", ""),
            entity=data.get("entity", ""),
            topic=data.get("topic", ""),
            sentiment=data.get("sentiment", ""),
            cluster_id=data.get("cluster"),
            query=data.get("q", "").strip(),
        )


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV (UTF-8 or GBK), JSONL or XLSX exported by a monitoring tool."),
    )


class TopicForm(forms.Form):
    code = forms.SlugField(label=gettext_lazy("Code"), max_length=40)
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=40)
    keywords = forms.CharField(
        label=gettext_lazy("Keywords"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy("One per line."),
    )
    weight = forms.FloatField(label=gettext_lazy("Severity weight"), min_value=0, max_value=3, initial=1.0)
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)


class WatchedNameForm(forms.Form):
    alias = forms.CharField(label=gettext_lazy("Name as the public writes it"), min_length=2, max_length=40)
    kind = forms.ChoiceField(label=gettext_lazy("Refers to"), choices=WatchedName.Kind.choices)
    department = forms.ModelChoiceField(label=gettext_lazy("Department"), queryset=Department.objects.none(),
                                        required=False)  # fmt: skip
    doctor = forms.ModelChoiceField(label=gettext_lazy("Doctor"), queryset=Doctor.objects.none(), required=False)

    def __init__(self, *args, hospital, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(hospital=hospital)
        self.fields["doctor"].queryset = Doctor.objects.filter(hospital=hospital)


# --- mentions ---------------------------------------------------------------------------------------------------


@member_required
@require_GET
def mention_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_VIEW)
    entities = selectors.entity_labels(principal)
    topics = selectors.topic_list(principal=principal)
    form = MentionFilterForm(request.GET or None, entities=entities, topics=topics)
    filters = form.filters() if request.GET else selectors.MentionFilters()
    page = selectors.mention_list(principal=principal, filters=filters, cursor=request.GET.get("cursor", "")[:60])
    next_query = ""
    if page.next_cursor:
        params = {key: value for key, value in request.GET.items() if key != "cursor" and value}
        next_query = urlencode({**params, "cursor": page.next_cursor})
    return render(
        request,
        "listening/mentions/mention_list.html",
        {
            "form": form,
            "mentions": page.mentions,
            "next_query": next_query,
            "entity_labels": entities,
            "topic_names": {topic.code: topic.name for topic in topics},
            "can_manage": principal.allows(Action.LISTENING_MANAGE),
        },
    )


@member_required
@require_GET
def mention_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mention = selectors.mention_get(principal=request.principal, pk=pk)
    labels = selectors.entity_labels(request.principal)
    return render(
        request,
        "listening/mentions/mention_detail.html",
        {
            "mention": mention,
            "entity_names": [labels.get(key, key) for key in mention.entities or []],
            "topic_names": selectors.topic_names(principal=request.principal),
        },
    )


@member_required
@require_GET
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = selectors.cluster_get(principal=request.principal, pk=pk)
    return render(
        request,
        "listening/mentions/cluster_detail.html",
        {
            "cluster": cluster,
            "members": selectors.cluster_members(cluster=cluster),
            "topic_names": selectors.topic_names(principal=request.principal),
        },
    )


# --- file import ------------------------------------------------------------------------------------------------


@member_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    can_manage = principal.allows(Action.LISTENING_MANAGE)
    return render(
        request,
        "listening/mentions/import_list.html",
        {
            "batches": selectors.batch_list(principal=principal),
            "can_manage": can_manage,
            "pull_accounts": list(pulls.wechat_pull_accounts(hospital_id=principal.hospital.pk)) if can_manage else [],
            "pull_days": pulls.RECENT_DAYS,
        },
    )


@member_required
@require_POST
def comments_pull(request: HttpRequest) -> HttpResponse:
    """Pull the comments of one connected official account's recent articles now (the scheduled job does the
    same for every account)."""
    principal = request.principal
    principal.require(Action.LISTENING_MANAGE)
    account_pk = parse_pk(request.POST.get("account", ""))
    account = pulls.wechat_pull_accounts(hospital_id=principal.hospital.pk).filter(pk=account_pk).first()
    if account is None:
        raise Http404
    try:
        batch = pulls.wechat_account_comments_pull(account=account, principal=principal, request=request)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("listening:import_list")
    if batch.pk is None:
        messages.info(request, _("No comments yet on the recent articles of %(account)s.") % {"account": account})
        return redirect("listening:import_list")
    messages.success(
        request,
        _("Comments pulled: %(created)d new mentions, %(duplicates)d already known.")
        % {"created": batch.rows_created, "duplicates": batch.rows_duplicate},
    )
    return redirect("listening:import_preview", pk=batch.pk)


@member_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    principal.require(Action.LISTENING_MANAGE)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > ingest.MAX_FILE_BYTES:
            form.add_error("file", _("The file is larger than %(size)d MB.") % {"size": ingest.MAX_FILE_BYTES // 2**20})
        else:
            try:
                preview = ingest.mention_file_upload(
                    principal=principal, filename=upload.name, data=upload.read(), request=request
                )
            except ApplicationError as error:
                form.add_error("file", error.message)
            else:
                return redirect("listening:import_preview", pk=preview.batch.pk)
    return render(
        request,
        "listening/mentions/import_upload.html",
        {"form": form, "max_mb": ingest.MAX_FILE_BYTES // 2**20, "max_rows": ingest.MAX_FILE_ROWS},
        status=400 if request.method == "POST" else 200,
    )


def _mapping_from(request: HttpRequest) -> dict[str, str]:
    return {name: request.POST.get(f"map_{name}", "") for name in ingest.FIELDS}


@member_required
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the preview. POST with ``action=preview``: preview again with the edited mapping; ``action=commit``:
    import all rows or none."""
    principal = request.principal
    batch = selectors.batch_get(principal=principal, pk=pk)
    can_manage = principal.allows(Action.LISTENING_MANAGE)
    status = 200
    commit_error = ""
    mapping: dict[str, int] | None = None
    if request.method == "POST":
        principal.require(Action.LISTENING_MANAGE)
        raw = _mapping_from(request)
        if request.POST.get("action") == "commit":
            try:
                committed = ingest.mention_file_commit(principal=principal, batch=batch, mapping=raw, request=request)
            except ApplicationError as error:
                commit_error = error.message
                status = 400
                batch.refresh_from_db()
            else:
                messages.success(
                    request,
                    _("Imported: %(created)d new mentions, %(duplicates)d already known.")
                    % {"created": committed.rows_created, "duplicates": committed.rows_duplicate},
                )
                return redirect("listening:import_list")
        mapping = {name: int(value) for name, value in raw.items() if value.isdigit()}
    if batch.source != MentionBatch.Source.FILE or not batch.stored_path:
        return render(request, "listening/mentions/import_preview.html", {"batch": batch, "missing_file": True})
    try:
        preview = ingest.preview_of(batch, mapping)
    except (ApplicationError, OSError):
        return render(request, "listening/mentions/import_preview.html", {"batch": batch, "missing_file": True})
    headers = preview.parsed.headers
    columns = [(index, header or f"#{index + 1}") for index, header in enumerate(headers)]
    fields = [
        {"name": name, "label": FIELD_LABELS[name], "required": name in ingest.REQUIRED,
         "selected": preview.mapping.get(name)}
        for name in ingest.FIELDS
    ]  # fmt: skip
    sample = [{"row": number, "cells": [raw.get(name, "") for name in ingest.FIELDS]} for number, raw in preview.sample]
    return render(
        request,
        "listening/mentions/import_preview.html",
        {
            "batch": batch,
            "preview": preview,
            "columns": columns,
            "fields": fields,
            "sample": sample,
            "field_labels": [FIELD_LABELS[name] for name in ingest.FIELDS],
            "errors": preview.errors,
            "commit_error": commit_error,
            "can_manage": can_manage and batch.status != MentionBatch.Status.COMMITTED,
        },
        status=status,
    )


# --- lexicon: crisis topics and watched names -------------------------------------------------------------------


@member_required
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    return render(
        request,
        "listening/mentions/topic_list.html",
        {"topics": selectors.topic_list(principal=principal), "can_manage": principal.allows(Action.LISTENING_MANAGE)},
    )


@member_required
@require_POST
def topic_install_defaults(request: HttpRequest) -> HttpResponse:
    request.principal.require(Action.LISTENING_MANAGE)
    added = lexicon.crisis_topics_install_defaults(request.principal.hospital)
    messages.success(request, _("%(count)d default topics added.") % {"count": added})
    return redirect("listening:topic_list")


@member_required
@require_http_methods(["GET", "POST"])
def topic_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    principal = request.principal
    topic = selectors.topic_get(principal=principal, pk=pk) if pk is not None else None
    principal.require(Action.LISTENING_MANAGE)
    initial = {}
    if topic is not None:
        initial = {"code": topic.code, "name": topic.name, "keywords": "\n".join(topic.keywords),
                   "weight": topic.weight, "is_active": topic.is_active}  # fmt: skip
    form = TopicForm(request.POST or None, initial=initial)
    if topic is not None:
        form.fields["code"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lexicon.crisis_topic_save(
                principal=principal,
                code=topic.code if topic else data["code"],
                name=data["name"],
                keywords=data["keywords"],
                weight=data["weight"],
                is_active=data["is_active"],
                topic_id=topic.pk if topic else None,
                request=request,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Topic saved. New mentions are matched with it from now on."))
            return redirect("listening:topic_list")
    status = 400 if request.method == "POST" else 200
    return render(request, "listening/mentions/topic_form.html", {"form": form, "topic": topic}, status=status)


@member_required
@require_http_methods(["GET", "POST"])
def watched_name_list(request: HttpRequest) -> HttpResponse:
    principal = request.principal
    names = selectors.watched_name_list(principal=principal)
    form = WatchedNameForm(request.POST or None, hospital=principal.hospital)
    status = 200
    if request.method == "POST":
        principal.require(Action.LISTENING_MANAGE)
        if form.is_valid():
            data = form.cleaned_data
            try:
                lexicon.watched_name_add(
                    principal=principal,
                    alias=data["alias"],
                    kind=data["kind"],
                    department_id=data["department"].pk if data["department"] else None,
                    doctor_id=data["doctor"].pk if data["doctor"] else None,
                    request=request,
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, _("Name added."))
                return redirect("listening:watched_name_list")
        status = 400
    return render(
        request,
        "listening/mentions/watched_name_list.html",
        {"names": names, "form": form, "can_manage": principal.allows(Action.LISTENING_MANAGE)},
        status=status,
    )


@member_required
@require_POST
def watched_name_delete(request: HttpRequest, pk: int) -> HttpResponse:
    watched = selectors.watched_name_get(principal=request.principal, pk=pk)
    lexicon.watched_name_remove(principal=request.principal, watched=watched, request=request)
    messages.success(request, _("Name removed."))
    return redirect("listening:watched_name_list")


urlpatterns = [
    path("mentions/", mention_list, name="mention_list"),
    path("mentions/<int:pk>/", mention_detail, name="mention_detail"),
    path("clusters/<int:pk>/", cluster_detail, name="cluster_detail"),
    path("imports/", import_list, name="import_list"),
    path("imports/new/", import_upload, name="import_upload"),
    path("imports/pull-comments/", comments_pull, name="comments_pull"),
    path("imports/<int:pk>/", import_preview, name="import_preview"),
    path("topics/", topic_list, name="topic_list"),
    path("topics/new/", topic_edit, name="topic_create"),
    path("topics/defaults/", topic_install_defaults, name="topic_install_defaults"),
    path("topics/<int:pk>/", topic_edit, name="topic_edit"),
    path("names/", watched_name_list, name="watched_name_list"),
    path("names/<int:pk>/delete/", watched_name_delete, name="watched_name_delete"),
]
