"""Other apps' admin pages (users, groups, API tokens, login attempts) in the same look as ours."""

from __future__ import annotations

import axes.admin as axes_admin
import django.contrib.auth.admin as auth_admin
import rest_framework.authtoken.admin as token_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.views import ChangeList

from .my_settings import UserProfileInline

# Importing those modules registered their own pages; ours replace them (this module is
# loaded first: our apps come first in INSTALLED_APPS).
for model in (User, Group, TokenProxy, AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    inlines = [UserProfileInline]


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin, ModelAdmin):
    pass


class TokenChangeList(token_admin.TokenChangeList, ChangeList):
    """DRF's list of tokens (rows link to their user's id) with unfold's list."""


@admin.register(TokenProxy)
class TokenAdmin(token_admin.TokenAdmin, ModelAdmin):
    def get_changelist(self, request, **kwargs):
        return TokenChangeList


@admin.register(AccessAttempt)
class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin, ModelAdmin):
    pass


@admin.register(AccessLog)
class AccessLogAdmin(axes_admin.AccessLogAdmin, ModelAdmin):
    pass


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(axes_admin.AccessFailureLogAdmin, ModelAdmin):
    pass
