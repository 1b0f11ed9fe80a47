"""Each staff user's own time zone and language: the "My settings" page and the profile inline on users."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import StackedInline

from ..models import UserProfile


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this system knows, sorted, after "the installation's"."""
    return [("", gettext("The installation's (%(zone)s)") % {"zone": settings.TIME_ZONE}),
            *((name, name) for name in _zone_names())]


class UserProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(label=gettext_lazy("Time zone"), required=False, choices=zone_choices)
    language = forms.ChoiceField(label=gettext_lazy("Language"), required=False,
                                 choices=lambda: [("", gettext_lazy("The browser's")), *settings.LANGUAGES])

    class Meta:
        model = UserProfile
        fields = ["timezone", "language"]


class UserProfileInline(StackedInline):
    model = UserProfile
    form = UserProfileForm
    can_delete = False
    verbose_name = gettext_lazy("Time zone and language")
    verbose_name_plural = gettext_lazy("Time zone and language")


def my_settings_view(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own time zone and language (nobody else's)."""
    profile = UserProfile.objects.filter(user=request.user).first() or UserProfile(user=request.user)
    form = UserProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, gettext("Your settings were saved."))
        return HttpResponseRedirect(request.path)
    context = {**admin.site.each_context(request), "title": gettext("My settings"), "form": form}
    return TemplateResponse(request, "admin/tact/my_settings.html", context)


def account_links(request: HttpRequest) -> list[dict[str, str]]:
    """unfold's user menu (settings.UNFOLD["ACCOUNT"]): replaces its default "Change password" link."""
    if not request.user.is_authenticated:  # the login page
        return []
    links = [{"title": gettext("My settings"), "link": reverse("admin-my-settings")}]
    if request.user.has_usable_password():
        links.append({"title": gettext("Change password"), "link": reverse("admin:password_change")})
    return links
