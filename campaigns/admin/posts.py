"""Channel posts in the admin: the list (status, time in the viewer's zone, channels), the
page with Schedule (optionally moved to the next slot the cadence policy allows) and Cancel,
each channel's publication and results; a scheduled post is edited until it goes out (through
the service, as the API edits it), then shown as it is."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext
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
P = Publication.Status
BUTTON_STATUSES = {"schedule": (S.DRAFT,), "cancel": tuple(post_services.CANCELLABLE)}


class ScheduleDialogForm(BaseDialogForm):
    move = forms.BooleanField(
        required=False, label=gettext_lazy("Move to the next allowed slot"),
        help_text=gettext_lazy("When a channel's cadence policy refuses this time, publish there at the next "
                               "time it allows instead of refusing."))


class PostForm(forms.ModelForm):
    """A draft is saved as it is; a scheduled post is changed through the service (checked as
    when scheduling, its content frozen anew, each channel's planned publication moved), and a
    refusal is shown on its field with nothing changed."""

    move = forms.BooleanField(
        required=False, label=gettext_lazy("Move to the next allowed slot"),
        help_text=gettext_lazy("When a channel's cadence policy refuses the new time, publish there at the next "
                               "time it allows instead of refusing."))
    actor = None  # the request's user, set by PostAdmin.get_form
    updated: Post | None = None

    class Meta:
        model = Post
        fields = "__all__"

    def _post_clean(self) -> None:
        super()._post_clean()
        post = self.instance
        if self.errors or post.pk is None or post.status != S.SCHEDULED:
            return
        changes = {f: self.cleaned_data[f] for f in self.changed_data if f in (*post_services.SETTINGS, "channels")}
        if "channels" in changes:
            changes["channels"] = list(changes["channels"])
        try:
            self.updated = post_services.post_update(post=post, actor=self.actor,
                                                     move=bool(self.cleaned_data.get("move")), **changes)
        except ServiceError as exc:
            for field, problems in exc.by_field.items():
                self.add_error(field if field in self.fields else None, problems)


def _dialog(title: str, description: str, submit: str, form_class: type[BaseDialogForm] | None = None) -> dict:
    return {"title": title, "description": description, "form_class": form_class, "form_submit_text": submit}


@admin.register(Post)
class PostAdmin(ModelAdmin):
    form = PostForm
    list_display = ["__str__", "status_outcome", "publish_at_local", "channel_list"]
    list_filter = ["status", "channels"]
    search_fields = ["name", "draft__title"]
    list_select_related = ["draft"]
    autocomplete_fields = ["draft"]
    filter_horizontal = ["channels"]
    date_hierarchy = "publish_at"
    actions_detail = ["schedule_button", "cancel_button"]
    readonly_fields = ["status", "status_outcome", "publish_at_local", "channel_list", "publications_table", "results",
                       "frozen_content", "scheduled_at", "cancelled_at"]

    def get_queryset(self, request: HttpRequest):
        counted = Q(publications__status__in=[P.PLANNED, P.SENDING, P.PUBLISHED, P.FAILED, P.UNCERTAIN])
        return super().get_queryset(request).prefetch_related("channels").annotate(
            channels_n=Count("publications", filter=counted, distinct=True),
            failed_n=Count("publications", filter=Q(publications__status=P.FAILED), distinct=True),
            uncertain_n=Count("publications", filter=Q(publications__status=P.UNCERTAIN), distinct=True))

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
        if editable and obj.status == S.SCHEDULED:
            post.append("move")
        return [
            (None, {"fields": [*post, "status_outcome"]}),
            (gettext("Publications"), {"fields": ["publications_table", "results"]}),
            (gettext("Content"), {"fields": ["frozen_content"]}),
            (gettext("Timeline"), {"fields": ["scheduled_at", "cancelled_at"]}),
        ]

    # --- permissions: named methods, never dotted permissions -------------------------

    def has_schedule_post_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.schedule_post")

    def has_change_permission(self, request: HttpRequest, obj: Post | None = None) -> bool:
        """A draft and a scheduled post are edited here (until it goes out); once publishing,
        published or cancelled it is shown as it is."""
        if obj is not None and obj.status not in (S.DRAFT, S.SCHEDULED):
            return False
        return super().has_change_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Post | None = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

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
        if getattr(form, "updated", None) is not None:
            return  # a scheduled post: the service saved it (content frozen anew), with its audit entry
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if getattr(form, "updated", None) is not None:
            return  # the service set the channels and planned each one
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

    @display(description=gettext_lazy("status"), ordering="status")
    def status_outcome(self, obj: Post) -> str:
        """The status, and where the post did not (surely) go out: a post whose only channel
        refused it is settled ("published") but was published nowhere."""
        status = obj.get_status_display()
        total, failed, uncertain = (getattr(obj, name, 0) or 0 for name in ("channels_n", "failed_n", "uncertain_n"))
        if obj.status not in (S.PUBLISHING, S.PUBLISHED, S.FAILED) or not (failed or uncertain):
            return status
        parts = []
        if failed:
            parts.append(ngettext("failed in %(n)s of %(total)s channel", "failed in %(n)s of %(total)s channels",
                                  total) % {"n": failed, "total": total})
        if uncertain:
            parts.append(ngettext("uncertain in %(n)s of %(total)s channel",
                                  "uncertain in %(n)s of %(total)s channels", total) % {"n": uncertain, "total": total})
        if obj.status == S.PUBLISHED and failed == total:
            status = gettext("Not published")
        return gettext("%(status)s: %(outcome)s") % {"status": status, "outcome": "; ".join(parts)}

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
