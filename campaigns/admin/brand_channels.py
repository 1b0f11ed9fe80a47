"""The brand's channels: operators add a Telegram channel or a Viber Channel; Tact checks on
save (and on "Check now") whether it can post there, and says what is missing."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminPasswordWidget

from ..models import BrandChannel
from ..services import ServiceError
from ..services import brand_channels as service
from .post_results import channel_results_table


class BrandChannelForm(forms.ModelForm):
    token = forms.CharField(
        required=False, max_length=255, label=gettext_lazy("token"),
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Viber: the channel's token (channel info → Developer Tools). Never shown again; "
                               "leave empty to keep the stored one. Telegram: leave empty (the bot posts)."))

    class Meta:
        model = BrandChannel
        fields = list(service.FIELDS)

    def clean(self) -> dict:
        """The service's rules, and the check on the platform: refused input names its field."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {f: cleaned.get(f) for f in service.FIELDS}
        if not values["token"]:
            values["token"] = self.instance.token  # write-only: empty keeps the stored one
        try:
            service.channel_prepare(channel=self.instance, values=values)
        except ServiceError as exc:
            for field, problems in exc.by_field.items():
                for problem in problems:
                    self.add_error(field if field in self.fields else None, problem)
        cleaned["token"] = self.instance.token  # so that saving the form keeps it
        return cleaned


@admin.register(BrandChannel)
class BrandChannelAdmin(ModelAdmin):
    form = BrandChannelForm
    list_display = ["__str__", "platform", "chat", "subscribers", "can_post_mark", "checked_at"]
    list_filter = ["platform", "can_post"]
    search_fields = ["title", "chat"]
    readonly_fields = ["title", "can_post_mark", "subscribers", "checked_at", "results"]
    actions_detail = ["check_button"]
    fieldsets = [
        (None, {"fields": ["platform", "chat", "token", "admin_id", "timezone"]}),
        (gettext_lazy("Can Tact post there?"), {"fields": ["title", "can_post_mark", "subscribers", "checked_at"]}),
        (gettext_lazy("Cadence: regularly but not often"), {
            "fields": ["max_posts_per_day", "min_gap_minutes", "night_start", "night_end", "night_policy"]}),
        (gettext_lazy("Results"), {"fields": ["results"]}),
    ]

    @admin.display(description=gettext_lazy("can post"), ordering="can_post")
    def can_post_mark(self, obj: BrandChannel) -> SafeString | str:
        if obj.checked_at is None:
            return "-"
        if obj.can_post:
            note = format_html(" <small>{}</small>", obj.problem) if obj.problem else ""
            return format_html('<strong style="color:#2e7d32" title="{}">✓ {}</strong>{}',
                               gettext("Tact can post here"), gettext("yes"), note)
        return format_html('<strong style="color:#c62828">✗ {}</strong>', obj.problem or gettext("no"))

    @admin.display(description=gettext_lazy("latest posts"))
    def results(self, obj: BrandChannel) -> SafeString | str:
        """Clicks, reactions and subscribers before → after of its latest posts (campaigns/admin/post_results.py)."""
        return (channel_results_table(obj) if obj.pk else "") or "-"

    def save_model(self, request: HttpRequest, obj: BrandChannel, form: BrandChannelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)  # checked in the form's clean()
        if obj.can_post:
            self.message_user(request, gettext("“%(channel)s”: Tact can post there.") % {"channel": obj},
                              messages.SUCCESS)
        else:
            self.message_user(request, gettext("“%(channel)s”: Tact cannot post there: %(problem)s")
                              % {"channel": obj, "problem": obj.problem}, messages.WARNING)

    @action(description=gettext_lazy("Check now"), icon="fact_check", url_path="check", permissions=["change"],
            dialog={"title": gettext_lazy("Check this channel now?"),
                    "description": gettext_lazy("Tact asks the platform whether it can post there."),
                    "form_class": None, "form_submit_text": gettext_lazy("Check now")})
    def check_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        channel = self.get_object(request, object_id)
        if channel is not None:
            channel = service.channel_check(channel=channel)
            if channel.can_post:
                self.message_user(request, gettext("“%(channel)s”: Tact can post there.") % {"channel": channel},
                                  messages.SUCCESS)
            else:
                self.message_user(request, gettext("“%(channel)s”: Tact cannot post there: %(problem)s")
                                  % {"channel": channel, "problem": channel.problem}, messages.ERROR)
        url = reverse("admin:campaigns_brandchannel_change", args=[object_id])
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": url})
        return redirect(url)
