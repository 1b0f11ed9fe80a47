"""Channel posts in the admin: the list (status, time in the viewer's zone, channels), the
page with Schedule (optionally moved to the next slot the cadence policy allows) and Cancel,
each channel's publication and results; a scheduled post is shown, not edited."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.forms import BaseDialogForm

from ..audit import audit_record
from ..models import Post, Publication
from ..services import ServiceError
from ..services import posts as post_services
from .dates import viewer_time
from .post_results import post_results_table

S = Post.Status
BUTTON_STATUSES = {"schedule": (S.DRAFT,), "cancel": tuple(post_services.CANCELLABLE)}


class ScheduleDialogForm(BaseDialogForm):
    move = forms.BooleanField(
        required=False, label=gettext_lazy("Move to the next allowed slot"),
        help_text=gettext_lazy("When a channel's cadence policy refuses this time, publish there at the next "
                               "time it allows instead of refusing."))


def _dialog(title: str, description: str, submit: str, form_class: type[BaseDialogForm] | None = None) -> dict:
    return {"title": title, "description": description, "form_class": form_class, "form_submit_text": submit}


@admin.register(Post)
class PostAdmin(ModelAdmin):
    list_display = ["__str__", "status", "publish_at_local", "channel_list"]
    list_filter = ["status", "channels"]
    search_fields = ["name", "draft__title"]
    list_select_related = ["draft"]
    autocomplete_fields = ["draft"]
    filter_horizontal = ["channels"]
    date_hierarchy = "publish_at"
    actions_detail = ["schedule_button", "cancel_button"]
    readonly_fields = ["status", "publish_at_local", "channel_list", "publications_table", "results",
                       "frozen_content", "scheduled_at", "cancelled_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("channels")

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "publish_at" and field is not None:
            # The middleware activated the user's own zone (or TIME_ZONE) for this request.
            zone = gettext("Times are in %(zone)s.") % {"zone": timezone.get_current_timezone_name()}
            field.help_text = f"{field.help_text} {zone}".strip()
        return field

    def get_fieldsets(self, request: HttpRequest, obj: Post | None = None):
        editable = self.has_change_permission(request, obj)
        post = ["name", "draft", "channels" if editable else "channel_list",
                "publish_at" if editable else "publish_at_local", "silent", "pin", "protect_content"]
        if obj is None:
            return [(None, {"fields": post})]
        return [
            (None, {"fields": [*post, "status"]}),
            (gettext("Publications"), {"fields": ["publications_table", "results"]}),
            (gettext("Content"), {"fields": ["frozen_content"]}),
            (gettext("Timeline"), {"fields": ["scheduled_at", "cancelled_at"]}),
        ]

    # --- permissions: named methods, never dotted permissions -------------------------

    def has_schedule_post_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.schedule_post")

    def has_change_permission(self, request: HttpRequest, obj: Post | None = None) -> bool:
        """Only a draft is edited here; a scheduled post is shown as it goes out (the API edits it)."""
        if obj is not None and obj.status != S.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Post | None = None) -> bool:
        if obj is not None and obj.status != S.DRAFT:
            return False  # its publications are the record of what was posted: cancel instead
        return super().has_delete_permission(request, obj)

    def get_actions_detail(self, request: HttpRequest, object_id: int | str):
        allowed = super().get_actions_detail(request, object_id)
        status = Post.objects.filter(pk=object_id).values_list("status", flat=True).first() \
            if str(object_id).isdigit() else None
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in allowed
                if status in BUTTON_STATUSES[a.action_name.removeprefix(prefix).removesuffix("_button")]]

    def save_model(self, request: HttpRequest, obj: Post, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        post = form.instance
        audit_record(post, verb="changed" if change else "created", actor=request.user,
                     after={**{f: form.cleaned_data.get(f) for f in form.changed_data if f != "channels"},
                            **({"channels": sorted(c.pk for c in post.channels.all())}
                               if "channels" in form.changed_data else {})})

    # --- the buttons -------------------------------------------------------------------

    def _back(self, request: HttpRequest, post_id: int | str) -> HttpResponse:
        url = reverse("admin:campaigns_post_change", args=[post_id])
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": url})
        return redirect(url)

    @action(description=gettext_lazy("Schedule"), icon="event_available", variant=ActionVariant.PRIMARY,
            url_path="schedule", permissions=["schedule_post"],
            dialog=_dialog(gettext_lazy("Schedule this post?"),
                           gettext_lazy("Its content is frozen now and it is published in each channel at its "
                                        "time, once."), gettext_lazy("Schedule"), ScheduleDialogForm))
    def schedule_button(self, request: HttpRequest, form: ScheduleDialogForm, object_id: str) -> HttpResponse:
        post = self.get_object(request, object_id)
        if post is None:
            return redirect(reverse("admin:campaigns_post_changelist"))
        move = bool(form.cleaned_data.get("move")) if form.is_valid() else False
        try:
            post = post_services.post_schedule(post=post, actor=request.user, move=move)
        except ServiceError as exc:
            self.message_user(request, gettext("“%(post)s” was not scheduled: %(problems)s")
                              % {"post": post, "problems": "; ".join(exc.messages)}, messages.ERROR)
        else:
            moved = [p for p in post.publications.select_related("channel") if p.publish_after != post.publish_at]
            self.message_user(request, gettext("“%(post)s” is scheduled.") % {"post": post}, messages.SUCCESS)
            for publication in moved:
                self.message_user(request, gettext("In %(channel)s it is moved to %(at)s by the channel's cadence "
                                                   "policy.") % {"channel": publication.channel,
                                                                 "at": viewer_time(publication.publish_after)},
                                  messages.INFO)
        return self._back(request, object_id)

    @action(description=gettext_lazy("Cancel"), icon="cancel", variant=ActionVariant.DANGER, url_path="cancel",
            permissions=["schedule_post"],
            dialog=_dialog(gettext_lazy("Cancel this post?"),
                           gettext_lazy("It is not published where it has not gone out yet; a channel where it "
                                        "is already published keeps it."), gettext_lazy("Cancel the post")))
    def cancel_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        post = self.get_object(request, object_id)
        if post is None:
            return redirect(reverse("admin:campaigns_post_changelist"))
        try:
            post, left = post_services.post_cancel(post=post, actor=request.user)
        except ServiceError as exc:
            self.message_user(request, gettext("“%(post)s”: %(problems)s")
                              % {"post": post, "problems": "; ".join(exc.messages)}, messages.ERROR)
        else:
            self.message_user(request, gettext("“%(post)s” cancelled.") % {"post": post}, messages.SUCCESS)
            if left:
                self.message_user(request, gettext("Not taken back: %(left)s")
                                  % {"left": post_services.post_left_message(left)}, messages.WARNING)
        return self._back(request, object_id)

    # --- read-only parts ---------------------------------------------------------------

    @display(description=gettext_lazy("publish at"), ordering="publish_at")
    def publish_at_local(self, obj: Post) -> str:
        return viewer_time(obj.publish_at) if obj.publish_at else "-"

    @display(description=gettext_lazy("channels"))
    def channel_list(self, obj: Post) -> str:
        return ", ".join(str(c) for c in obj.channels.all()) or "-"

    @display(description=gettext_lazy("each channel"))
    def publications_table(self, obj: Post) -> SafeString | str:
        publications = list(obj.publications.select_related("channel").order_by("channel__title", "pk"))
        if not publications:
            return gettext("Planned per channel when the post is scheduled.")
        heads = [gettext("channel"), gettext("status"), gettext("publish after"), gettext("silent"),
                 gettext("message id"), gettext("published at"), gettext("reason")]
        head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in heads))
        rows = format_html_join("", '<tr data-channel="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
                                    "<td>{}</td><td>{}</td></tr>",
                                ((p.channel_id, p.channel, p.get_status_display(), viewer_time(p.publish_after),
                                  gettext("yes") if p.silent else gettext("no"), p.message_id or "-",
                                  viewer_time(p.published_at) if p.published_at else "-", _reason(p))
                                 for p in publications))
        return format_html("<table data-publications><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @display(description=gettext_lazy("results"))
    def results(self, obj: Post) -> SafeString | str:
        return post_results_table(obj) or "-"

    @display(description=gettext_lazy("content as published"))
    def frozen_content(self, obj: Post) -> SafeString | str:
        if obj.status == S.DRAFT:
            return gettext("Frozen from the draft when the post is scheduled.")
        buttons = format_html_join(", ", "{} → {}", ((b.get("text", ""), b.get("url", "")) for b in obj.content_buttons))
        media = (obj.content_media or {}).get("name") or (obj.content_media or {}).get("url") or "-"
        return format_html('<pre style="white-space:pre-wrap">{}</pre><p>{}: {}</p><p>{}: {}</p>',
                           obj.content_body, gettext("buttons"), buttons or "-", gettext("media"), media)


def _reason(publication: Publication) -> str:
    if publication.status == Publication.Status.UNCERTAIN:
        return gettext("%(reason)s (never posted again: look in the channel)") % {"reason": publication.reason}
    return publication.reason or "-"
