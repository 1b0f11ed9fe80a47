"""Sender accounts: operators add a brand's Telegram bots, WhatsApp numbers and Viber bots,
enter their credentials (secrets are never shown again: "set" or "not set"), see the webhook
URL to give the platform, and check on the platform that the credentials work. Other roles
see the accounts (a campaign picks one), never their credentials."""

from __future__ import annotations

from django import forms
from django.conf import settings
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
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminTextInputWidget

from ..models import SenderAccount
from ..services import ServiceError
from ..services import sender_accounts as service
from .common import _table

# Every credential a platform may have, once each, in the order the form shows them.
CREDENTIALS: tuple[str, ...] = tuple(dict.fromkeys(f for fields in SenderAccount.FIELDS.values() for f in fields))
LABELS = {
    "token": (gettext_lazy("bot token"), gettext_lazy("From @BotFather.")),
    "webhook_secret": (gettext_lazy("webhook secret"), gettext_lazy(
        "Telegram sends it in X-Telegram-Bot-Api-Secret-Token with each update (setWebhook's secret_token).")),
    "api_url": (gettext_lazy("API server"), gettext_lazy(
        "Empty: the platform's own (or the server in TELEGRAM_API_URL, WHATSAPP_API_URL, VIBER_API_URL).")),
    "access_token": (gettext_lazy("access token"), gettext_lazy("A system user's permanent token (Meta).")),
    "phone_number_id": (gettext_lazy("phone number id"), gettext_lazy("The number's id in the Cloud API.")),
    "app_secret": (gettext_lazy("app secret"), gettext_lazy("Checks the webhooks' X-Hub-Signature-256.")),
    "verify_token": (gettext_lazy("verify token"), gettext_lazy("Answers Meta's webhook verification (GET).")),
    "business_account_id": (gettext_lazy("WhatsApp Business account id"), gettext_lazy(
        "Whose message templates are synced.")),
    "auth_token": (gettext_lazy("auth token"), gettext_lazy("The bot's token (Viber admin panel).")),
    "sender_name": (gettext_lazy("sender name"), gettext_lazy("The name Viber shows as the sender.")),
}


def _platforms_of(field: str) -> list[str]:
    return [p for p, fields in SenderAccount.FIELDS.items() if field in fields]


# One form field per credential (declared, so that the admin's fieldsets may name them).
_CredentialFields = forms.Form.__class__("_CredentialFields", (forms.Form,), {"__module__": __name__, **{
    field: forms.CharField(required=False, max_length=1000, label=LABELS.get(field, (field, ""))[0],
                           help_text=LABELS.get(field, (field, ""))[1])
    for field in CREDENTIALS}})


class SenderAccountForm(_CredentialFields, forms.ModelForm):
    """The account and its credentials: a secret left empty keeps the stored one; a public one
    (shown) left empty is removed."""

    class Meta:
        model = SenderAccount
        fields = list(service.FIELDS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        stored = service.stored_credentials(self.instance) if self.instance.pk else {}
        for field in CREDENTIALS:
            if field not in self.fields:
                continue
            formfield = self.fields[field]
            if service.is_secret(field):
                state = gettext("Stored: set. Leave empty to keep it.") if stored.get(field) else gettext(
                    "Stored: not set.")
                formfield.help_text = f"{LABELS.get(field, (field, ''))[1]} {state}".strip()
                formfield.widget = UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "new-password"})
            else:
                formfield.initial = stored.get(field, "")
                formfield.widget = UnfoldAdminTextInputWidget()

    def clean(self) -> dict:
        """Our rules (reserved slugs, the platform's required credentials): refused input names its field."""
        cleaned = super().clean()
        platform = cleaned.get("platform") or self.instance.platform
        if not platform:
            return cleaned
        credentials: dict[str, str] = {}
        for field in CREDENTIALS:
            value = (cleaned.get(field) or "").strip()
            if field not in SenderAccount.FIELDS[platform]:
                if value:  # another platform's credential, typed in by mistake
                    credentials[field] = value
            elif value or not service.is_secret(field):  # an empty secret keeps the stored one
                credentials[field] = value
        values = {f: cleaned[f] for f in service.FIELDS if f in cleaned}
        try:
            self.credentials_changed = service.account_prepare(account=self.instance, values=values,
                                                               credentials=credentials)
        except ServiceError as exc:
            for field, problems in exc.by_field.items():
                name = field.removeprefix("credentials.")
                for problem in problems:
                    self.add_error(name if name in self.fields else None, problem)
        return cleaned


@admin.register(SenderAccount)
class SenderAccountAdmin(ModelAdmin):
    form = SenderAccountForm
    list_display = ["name", "platform", "slug", "ceiling", "active", "webhook"]
    list_filter = ["platform", "active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["webhook", "ceiling", "credentials_shown", "created_at", "updated_at"]
    actions_detail = ["check_button"]

    def get_readonly_fields(self, request: HttpRequest, obj: SenderAccount | None = None):
        if obj is not None:  # its subscriptions and campaigns are of that platform
            return ["platform", *self.readonly_fields]
        return self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: SenderAccount | None = None):
        account = [(None, {"fields": ["platform", "name", "slug", "rate_per_second", "active"]})]
        if obj is not None:
            account.append((gettext("Webhook"), {"fields": ["webhook"]}))
        editable = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if not editable:  # the page is shown, not edited: which credentials are set, no values of secrets
            return [*account, (gettext("Credentials"), {"fields": ["credentials_shown"]})]
        platforms = [obj.platform] if obj is not None else list(SenderAccount.FIELDS)
        credentials = [
            (gettext("%(platform)s credentials") % {"platform": service.platform_name(p)},
             {"fields": [f for f in SenderAccount.FIELDS[p] if f != "api_url"]})
            for p in platforms
        ]
        shared = (gettext("API server (tests and staging)"), {"fields": ["api_url"], "classes": ["collapse"]})
        return [*account, *credentials, shared]

    @admin.display(description=gettext_lazy("ceiling (msg/s)"), ordering="rate_per_second")
    def ceiling(self, obj: SenderAccount) -> str:
        if obj.rate_per_second:
            return f"{obj.rate_per_second:g}"
        default = settings.TACT_RATE.get(obj.platform)
        if default is None:
            return gettext("none (the platform's default)")
        return gettext("%(rate)s (the platform's default)") % {"rate": f"{default:g}"}

    @admin.display(description=gettext_lazy("webhook URL"))
    def webhook(self, obj: SenderAccount) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return format_html("<code>{}</code>", service.webhook_url(obj))

    @admin.display(description=gettext_lazy("credentials"))
    def credentials_shown(self, obj: SenderAccount) -> SafeString | str:
        if obj.pk is None:
            return "-"
        if not service.credentials_readable(obj):
            return gettext("cannot be decrypted (TACT_CREDENTIALS_KEY changed?): enter them again")
        stored = obj.credentials
        rows = []
        for field in SenderAccount.FIELDS[obj.platform]:
            label = LABELS.get(field, (field, ""))[0]
            if service.is_secret(field):
                rows.append([label, gettext("set") if stored.get(field) else gettext("not set")])
            else:
                rows.append([label, stored.get(field) or "-"])
        return _table([gettext("credential"), gettext("value")], rows)

    def save_model(self, request: HttpRequest, obj: SenderAccount, form: SenderAccountForm, change: bool) -> None:
        super().save_model(request, obj, form, change)  # credentials encrypted in the form's clean()
        service.audit_credentials(obj, getattr(form, "credentials_changed", []), request.user)
        if change:
            return
        self.message_user(request, gettext("Give %(platform)s this webhook URL: %(url)s. “Check” asks %(platform)s "
                                           "whether the credentials work.")
                          % {"platform": service.platform_name(obj.platform), "url": service.webhook_url(obj)},
                          messages.INFO)

    @action(description=gettext_lazy("Check"), icon="fact_check", url_path="check", permissions=["change"],
            dialog={"title": gettext_lazy("Check this account now?"),
                    "description": gettext_lazy("Tact asks the platform who these credentials belong to."),
                    "form_class": None, "form_submit_text": gettext_lazy("Check")})
    def check_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        account = self.get_object(request, object_id)
        if account is not None:
            found = service.account_check(account=account)
            if found.ok:
                self.message_user(request, gettext("“%(account)s”: the credentials work: %(detail)s")
                                  % {"account": account.name, "detail": found.detail}, messages.SUCCESS)
            else:
                self.message_user(request, gettext("“%(account)s”: refused: %(detail)s")
                                  % {"account": account.name, "detail": found.detail}, messages.ERROR)
        url = reverse("admin:campaigns_senderaccount_change", args=[object_id])
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": url})
        return redirect(url)
