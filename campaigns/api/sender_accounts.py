"""Sender accounts over REST (/api/accounts/): every role reads them (a campaign picks one),
operators add, change, check and remove them. Credentials are write-only: answers say which
are set and show the public ones (SenderAccount.PUBLIC), never a secret."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import PlatformChoices, SenderAccount
from ..services import ServiceError
from ..services import sender_accounts as service


def _refused(exc: ServiceError) -> ValidationError:
    """The service's refusals by field; "credentials.<name>" nested as {"credentials": {"<name>": [...]}}."""
    errors: dict = {}
    for field, messages in exc.by_field.items():
        if field.startswith("credentials."):
            errors.setdefault("credentials", {})[field.removeprefix("credentials.")] = messages
        else:
            errors[field or "non_field_errors"] = messages
    return ValidationError(errors)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "nullable": True},
                      "example": {"token": "123456:ABC-DEF", "webhook_secret": "s3cret"}})
class CredentialsField(serializers.Field):
    """{name: value}: the platform's credentials (write-only); null or "" removes one."""

    def to_internal_value(self, data: object) -> dict[str, str | None]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(_("an object such as {\"token\": \"...\"}"))
        wrong = {k: [_("a string or null")] for k, v in data.items() if v is not None and not isinstance(v, str)}
        if wrong:
            raise serializers.ValidationError(wrong)
        return data

    def to_representation(self, value: object) -> None:  # never answered
        return None


class SenderAccountSerializer(serializers.ModelSerializer):
    platform = serializers.ChoiceField(choices=PlatformChoices.choices, help_text=gettext_lazy(
        "Fixed once created (its subscriptions are of that platform)."))
    credentials = CredentialsField(write_only=True, required=False, help_text=gettext_lazy(
        "Write-only. Telegram: token (required), webhook_secret, api_url; WhatsApp: access_token and "
        "phone_number_id (required), app_secret, verify_token, business_account_id, api_url; Viber: auth_token "
        "(required), sender_name, api_url. On change, the keys given replace the stored ones, null or \"\" "
        "removes one, the others are kept."))
    credentials_set = serializers.SerializerMethodField(help_text=gettext_lazy(
        "Which credentials are stored (names only); empty when they cannot be decrypted any more."))
    public_credentials = serializers.SerializerMethodField(help_text=gettext_lazy(
        "The stored credentials that are not secret (phone_number_id, business_account_id, sender_name, api_url)."))
    credentials_readable = serializers.SerializerMethodField(help_text=gettext_lazy(
        "False when TACT_CREDENTIALS_KEY no longer opens them: enter them again."))
    webhook_url = serializers.SerializerMethodField(help_text=gettext_lazy(
        "Where the platform calls us for this account: {TACT_PUBLIC_URL}/webhooks/<platform>/<slug>/."))

    class Meta:
        model = SenderAccount
        fields = ["id", "platform", "name", "slug", "rate_per_second", "active", "credentials", "credentials_set",
                  "public_credentials", "credentials_readable", "webhook_url", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def _stored(self, obj: SenderAccount) -> dict[str, str]:
        cache = self.context.setdefault("_credentials", {})
        if obj.pk not in cache:
            cache[obj.pk] = service.stored_credentials(obj)
        return cache[obj.pk]

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_credentials_set(self, obj: SenderAccount) -> list[str]:
        stored = self._stored(obj)
        return [f for f in SenderAccount.FIELDS[obj.platform] if stored.get(f)]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_public_credentials(self, obj: SenderAccount) -> dict[str, str]:
        stored = self._stored(obj)
        return {f: stored[f] for f in SenderAccount.FIELDS[obj.platform] if not service.is_secret(f) and stored.get(f)}

    def get_credentials_readable(self, obj: SenderAccount) -> bool:
        return service.credentials_readable(obj)

    def get_webhook_url(self, obj: SenderAccount) -> str:
        return service.webhook_url(obj)

    def validate(self, attrs: dict) -> dict:
        if self.instance is None and "credentials" not in attrs:
            attrs["credentials"] = {}  # the service names each required one missing
        return attrs

    def save(self, **kwargs) -> SenderAccount:
        data = {**self.validated_data, **kwargs}
        credentials = data.pop("credentials", {})
        actor = data.pop("actor", None)
        account = self.instance if self.instance is not None else SenderAccount()
        try:
            self.instance = service.account_save(account=account, values=data, credentials=credentials, actor=actor)
        except ServiceError as exc:
            raise _refused(exc) from exc
        return self.instance


class AccountCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text=gettext_lazy("True when the platform accepted the credentials."))
    detail = serializers.CharField(help_text=gettext_lazy("Who the platform says the account is, or why it refused."))


class SenderAccountViewSet(viewsets.ModelViewSet):
    """The brand's bots and numbers; a campaign picks one per platform (empty: the environment's)."""

    queryset = SenderAccount.objects.order_by("platform", "name", "id")
    serializer_class = SenderAccountSerializer
    filterset_fields = ["platform", "active"]
    search_fields = ["name", "slug"]
    action_permissions = {"check": ["campaigns.change_senderaccount"]}

    def perform_create(self, serializer: SenderAccountSerializer) -> None:
        serializer.save(actor=self.request.user)

    def perform_update(self, serializer: SenderAccountSerializer) -> None:
        serializer.save(actor=self.request.user)

    @extend_schema(request=None, responses={200: AccountCheckSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Ask the platform now whether the credentials work (Telegram getMe, the WhatsApp number,
        Viber get_account_info); nothing is stored."""
        found = service.account_check(account=self.get_object())
        return Response({"ok": found.ok, "detail": found.detail})


# --- a campaign's accounts --------------------------------------------------------------

ACCOUNT_HELP = {
    "telegram": gettext_lazy("The slug of the Telegram bot it sends from (GET /api/accounts/); null: the default "
                             "bot (TELEGRAM_BOT_TOKEN). Only that bot's subscribers are in its audience."),
    "whatsapp": gettext_lazy("The slug of the WhatsApp number it sends from; null: the default number "
                             "(WHATSAPP_ACCESS_TOKEN). Only that number's subscribers are in its audience."),
    "viber": gettext_lazy("The slug of the Viber bot it sends from; null: the default bot (VIBER_AUTH_TOKEN). "
                          "Only that bot's subscribers are in its audience."),
}


def campaign_account_field(platform: str) -> serializers.SlugRelatedField:
    """A campaign's account on `platform`, by slug (null: the platform's default account)."""
    return serializers.SlugRelatedField(slug_field="slug", queryset=SenderAccount.objects.all(), allow_null=True,
                                        required=False, help_text=ACCOUNT_HELP[platform])


def campaign_accounts_problems(attrs: dict, instance: object | None) -> dict[str, list[str]]:
    """An account of another platform, an inactive one picked now, or one for a platform the
    campaign does not send on: by field (telegram_account, ...)."""
    problems: dict[str, list[str]] = {}
    platforms = attrs.get("platforms", getattr(instance, "platforms", None)) or []
    for platform in SenderAccount.FIELDS:
        field = service.account_field(platform)
        account = attrs[field] if field in attrs else (getattr(instance, field) if instance is not None else None)
        if account is None:
            continue
        names = {"account": account.slug, "platform": service.platform_name(platform)}
        if account.platform != platform:
            problems[field] = [_("“%(account)s” is not a %(platform)s account") % names]
        elif field in attrs and not account.active:
            problems[field] = [_("the %(platform)s account “%(account)s” is inactive") % names]
        elif platform not in platforms:
            problems[field] = [_("%(platform)s is not among the campaign's platforms: add it, or set this to null")
                               % names]
    return problems
