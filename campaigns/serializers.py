"""REST representations, exactly as shared/API.md describes them."""

from __future__ import annotations

import dataclasses

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from channels.limits import PLATFORMS

from . import addresses, personalise, rules, selectors, services
from .api import sender_accounts as accounts_api
from .api import series as series_api
from .api import spread_window
from .api import variants as variants_api
from .api.parsers import body_problem
from .models import (
    Campaign,
    ConsentEvent,
    Delivery,
    Draft,
    ImportJob,
    PlatformChoices,
    Segment,
    SenderAccount,
    Subscriber,
    Subscription,
)
from .services import media as media_service
from .services.manual_lists import manual_platform_problem
from .services.paid_broadcast import paid_platform_problem
from .services.whatsapp_templates import whatsapp_template_problems

PLATFORM_CHOICES = PlatformChoices.choices


class WholeMixin:
    """A nested object is always whole. DRF's PATCH (partial) also skips the required
    fields and defaults of nested serializers, which stored `{}` as a button or template
    that no later read could show or send."""

    def to_internal_value(self, data: object) -> dict:
        value = super().to_internal_value(data)
        if not getattr(self.root, "partial", False):
            return value
        missing = {}
        for name, field in self.fields.items():
            if field.read_only or field.source in value:
                continue
            if field.required:
                missing[name] = [field.error_messages["required"]]
            elif field.default is not serializers.empty:  # get_default() skips it when partial
                value[field.source] = field.default() if callable(field.default) else field.default
        if missing:
            raise serializers.ValidationError(missing)
        return value


class ConsentSerializer(WholeMixin, serializers.Serializer):
    source = serializers.CharField(max_length=100)
    text = serializers.CharField(help_text=gettext_lazy("The wording the person agreed to."))
    at = serializers.DateTimeField(required=False, help_text=gettext_lazy("When they agreed; now if omitted."))

    def validate_at(self, value):
        if problem := rules.consent_time_problem(value, timezone.now()):
            raise serializers.ValidationError(problem)
        return value


def _storable(value: object, field: str) -> None:
    """Refuse, naming where, what jsonb or psycopg cannot take (NUL, lone surrogates) or what
    nests deeper than 32 levels. JSON bodies are checked by their parser already; a JSON
    value sent as a form field is checked only here."""
    if found := body_problem({field: value}):
        raise serializers.ValidationError(found[1])


def _with_normalized_address(attrs: dict) -> dict:
    """The address in its stored form for its platform, or a 400 on `address` saying why."""
    try:
        attrs["address"] = rules.normalize_address(attrs["platform"], attrs["address"],
                                                   selectors.default_phone_region())
    except rules.AddressError as exc:
        raise serializers.ValidationError({"address": [str(exc)]}) from exc
    return attrs


class SubscriptionSerializer(WholeMixin, serializers.ModelSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    consent = ConsentSerializer(help_text=gettext_lazy("Required: no subscription without consent."))
    account = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True, help_text=gettext_lazy(
        "The sender account (bot or number) the person subscribed to, by slug; null: the platform's default one."))

    class Meta:
        model = Subscription
        fields = ["platform", "account", "address", "status", "saved_our_number", "consent"]
        read_only_fields = ["status"]
        extra_kwargs = {"address": {"validators": []}}
        # Uniqueness depends on whose address it is: the service decides and says so.
        validators: list = []

    def validate(self, attrs: dict) -> dict:
        return _with_normalized_address(attrs)

    def to_representation(self, instance: Subscription) -> dict:
        masked = _addresses_masked(self.context)
        data = {
            "platform": instance.platform,
            "account": _account_slug(instance.account_id, self.context),
            "address": addresses.shown_address(instance, masked=masked),
            "status": instance.status,
        }
        if instance.platform == "whatsapp":
            data["saved_our_number"] = instance.saved_our_number
        event = _last_opt_in(instance)
        data["consent"] = (
            {"source": event.source, "text": event.text, "at": serializers.DateTimeField().to_representation(event.at),
             "evidence": addresses.shown_evidence(event.evidence, instance, masked=masked)}
            if event
            else None
        )
        return data


def _account_slug(account_id: int | None, context: dict) -> str | None:
    """A sender account's slug (None: the default account); the accounts are read once per answer."""
    if account_id is None:
        return None
    slugs = context.get("_account_slugs")
    if slugs is None or account_id not in slugs:
        slugs = context["_account_slugs"] = dict(SenderAccount.objects.values_list("id", "slug"))
    return slugs.get(account_id)


def _addresses_masked(context: dict) -> bool:
    """Addresses are masked for users without campaigns.view_address, and without a request."""
    request = context.get("request")
    return not addresses.sees_addresses(getattr(request, "user", None))


@extend_schema_field({"type": "string"})
class AddressField(serializers.Field):
    """A subscription's address, masked for users who may not see it whole."""

    def __init__(self, **kwargs) -> None:
        super().__init__(source="subscription", read_only=True, **kwargs)

    def to_representation(self, value: Subscription) -> str:
        return addresses.shown_address(value, masked=_addresses_masked(self.context))


def _last_opt_in(subscription: Subscription) -> ConsentEvent | None:
    events = getattr(subscription, "prefetched_opt_ins", None)
    if events is not None:
        return events[-1] if events else None
    return subscription.consent_events.filter(kind=ConsentEvent.Kind.OPT_IN).order_by("id").last()


def _consent_errors(exc: services.ServiceError) -> dict:
    """A service's refusal of a subscription's consent: on `consent.at` when about its date."""
    if "consent_at" in exc.by_field:
        return {"consent": {"at": exc.by_field["consent_at"]}}
    return {"consent": exc.messages}


class TagListField(serializers.ListField):
    child = serializers.CharField(max_length=50)

    def to_representation(self, data) -> list[str]:
        return sorted(tag.name for tag in data.all())


class SubscriberSerializer(serializers.ModelSerializer):
    tags = TagListField(required=False)
    subscriptions = SubscriptionSerializer(many=True, required=False)

    class Meta:
        model = Subscriber
        fields = [
            "id", "external_id", "name", "timezone", "language", "tags", "attributes", "tester",
            "subscriptions", "created_at", "updated_at",
            "unanswered",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at", "unanswered"]

    def validate_timezone(self, value: str) -> str:
        try:
            rules.parse_timezone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_language(self, value: str) -> str:
        try:
            return rules.normalize_language(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_attributes(self, value: object) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError(_("attributes must be an object"))
        _storable(value, "attributes")
        return value

    def validate_subscriptions(self, value: list[dict]) -> list[dict]:
        platforms = [s["platform"] for s in value]
        repeated = sorted({p for p in platforms if platforms.count(p) > 1})
        if repeated:
            raise serializers.ValidationError(
                _("one subscription per platform; %(platforms)s repeated") % {"platforms": ", ".join(repeated)})
        return value

    def _subscriptions_save(self, subscriber: Subscriber, items: list[dict]) -> None:
        errors: list[dict] = []
        for item in items:
            # The API writes the default account's subscriptions (sender accounts: imports, webhooks).
            existing = subscriber.subscriptions.filter(platform=item["platform"], account__isnull=True).first()
            consent = services.Consent(**item["consent"], evidence={"api": True})
            about_consent = False
            try:
                if existing is None:
                    services.subscription_add(
                        subscriber=subscriber,
                        platform=item["platform"],
                        address=item["address"],
                        consent=consent,
                        saved_our_number=item.get("saved_our_number", False),
                    )
                elif existing.address != item["address"]:
                    raise services.ServiceError(
                        _("this subscriber's %(platform)s address is %(address)s; "
                          "opt it out and add a new subscriber to change it")
                        % {"platform": existing.platform, "address": existing.address}
                    )
                else:
                    existing.saved_our_number = item.get("saved_our_number", existing.saved_our_number)
                    existing.save(update_fields=["saved_our_number", "updated_at"])
                    # The address is this subscriber's: a refusal now is about the consent
                    # (after a withdrawal, only the person's own opt-in brings them back).
                    about_consent = True
                    services.subscription_opt_in(subscription=existing, consent=consent)
            except services.ServiceError as exc:
                about_consent = about_consent or "consent_at" in exc.by_field
                errors.append(_consent_errors(exc) if about_consent else {"address": exc.messages})
                continue
            errors.append({})
        if any(errors):
            raise serializers.ValidationError({"subscriptions": errors})

    @transaction.atomic
    def create(self, validated_data: dict) -> Subscriber:
        tags = validated_data.pop("tags", [])
        items = validated_data.pop("subscriptions", [])
        subscriber = Subscriber.objects.create(**validated_data)
        services.tags_set(subscriber=subscriber, names=tags)
        self._subscriptions_save(subscriber, items)
        return subscriber

    @transaction.atomic
    def update(self, instance: Subscriber, validated_data: dict) -> Subscriber:
        tags = validated_data.pop("tags", None)
        items = validated_data.pop("subscriptions", [])
        for key, value in validated_data.items():
            setattr(instance, key, value)
        instance.save()
        if tags is not None:
            services.tags_set(subscriber=instance, names=tags)
        self._subscriptions_save(instance, items)
        return instance


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=gettext_lazy("UTF-8 CSV with a header row; columns as in API.md."))


class ImportReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.DictField(), help_text=(
        gettext_lazy('Rows imported with something to know: [{"line": 4, "warning": "..."}] (a Viber address that is a '
        "phone number).")))


class ImportJobSerializer(serializers.ModelSerializer):
    error_count = serializers.IntegerField(read_only=True, help_text=gettext_lazy("Rows refused; listed at errors_url."))
    errors_url = serializers.HyperlinkedIdentityField(
        view_name="importjob-errors", help_text=gettext_lazy("The refused rows as CSV: line,error.")
    )
    warning_count = serializers.IntegerField(
        read_only=True, help_text=gettext_lazy("Rows imported with a warning (a Viber phone number); listed at warnings_url.")
    )
    warnings_url = serializers.HyperlinkedIdentityField(
        view_name="importjob-warnings", help_text=gettext_lazy("The rows imported with a warning as CSV: line,warning.")
    )

    class Meta:
        model = ImportJob
        fields = ["id", "state", "file_name", "total_rows", "processed_rows", "created", "updated", "error_count",
                  "warning_count", "problem", "created_at", "started_at", "finished_at", "errors_url", "warnings_url"]
        read_only_fields = fields


class OptOutSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    address = serializers.CharField(max_length=64)
    source = serializers.CharField(max_length=100, default="api")
    text = serializers.CharField(required=False, default="", allow_blank=True)
    account = serializers.SlugField(required=False, max_length=50, help_text=gettext_lazy(
        "The slug of one sender account: only its subscription is opted out. Omitted: the address is opted out on "
        "every account of the platform, the default one included."))

    def validate(self, attrs: dict) -> dict:
        attrs = _with_normalized_address(attrs)
        if "account" in attrs:
            account = SenderAccount.objects.filter(platform=attrs["platform"], slug=attrs["account"]).first()
            if account is None:
                raise serializers.ValidationError({"account": [
                    _("no %(platform)s sender account %(slug)s") % {"platform": attrs["platform"],
                                                                    "slug": attrs["account"]}]})
            attrs["account"] = account
        return attrs


class SegmentSerializer(serializers.ModelSerializer):
    size = serializers.SerializerMethodField(help_text=gettext_lazy("People in the segment."))
    sizes = serializers.SerializerMethodField(help_text=gettext_lazy("People reachable (opted in) per platform."))
    members = serializers.PrimaryKeyRelatedField(many=True, required=False,
                                                 queryset=Subscriber.objects.filter(erased_at__isnull=True))

    class Meta:
        model = Segment
        fields = ["id", "name", "kind", "rules", "members", "max_size", "size", "sizes"]

    def get_size(self, obj: Segment) -> int:
        return self._sizes(obj)["total"]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_sizes(self, obj: Segment) -> dict[str, int]:
        return {p: n for p, n in self._sizes(obj).items() if p != "total"}

    def _sizes(self, obj: Segment) -> dict[str, int]:
        cache = self.context.setdefault("_sizes", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.segment_sizes(obj)
        return cache[obj.pk]

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", getattr(self.instance, "kind", Segment.Kind.DYNAMIC))
        try:
            _storable(attrs.get("rules") or {}, "rules")
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"rules": exc.detail}) from exc
        if kind == Segment.Kind.DYNAMIC:
            if attrs.get("members"):
                raise serializers.ValidationError({"members": [_("members are for static segments; use rules")]})
            try:
                attrs["rules"] = rules.validate_segment_rules(
                    attrs.get("rules", getattr(self.instance, "rules", {})) or {}
                )
            except ValueError as exc:
                raise serializers.ValidationError({"rules": [str(exc)]}) from exc
        elif attrs.get("rules"):
            raise serializers.ValidationError({"rules": [_("rules are for dynamic segments; use members")]})
        return attrs


def placeholders_valid(value: str) -> None:
    """Only our placeholders ({{ name }}, {{ coupon }}, ...): anything else is named and refused."""
    try:
        personalise.check(value)
    except personalise.PlaceholderError as exc:
        raise serializers.ValidationError(str(exc)) from exc


class ButtonSerializer(WholeMixin, serializers.Serializer):
    text = serializers.CharField(max_length=64, validators=[placeholders_valid])
    url = serializers.CharField(max_length=2000, required=False, validators=[placeholders_valid],
                                help_text=gettext_lazy("A link button's URL (placeholders are filled in, URL-encoded)."))
    copy_text = serializers.CharField(
        max_length=256, required=False, validators=[placeholders_valid],
        help_text=gettext_lazy('Instead of url: a Telegram button that copies this text, e.g. "{{ coupon }}"; '
                               'WhatsApp and Viber show it as a line "Text: value".'))

    def validate_url(self, value: str) -> str:
        # Checked as a person receives it: placeholders filled with a sample value.
        sample = personalise.render(value, personalise.Values(name="x", attributes={}, coupon="x"), url=True)
        try:
            URLValidator()(sample)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_("Enter a valid URL.")) from exc
        if not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError(_("a button URL starts with https:// or http://"))
        return value

    def validate(self, attrs: dict) -> dict:
        if "url" not in attrs and "copy_text" not in attrs:
            raise serializers.ValidationError({"url": [self.fields["url"].error_messages["required"]]})
        if "url" in attrs and "copy_text" in attrs:
            raise serializers.ValidationError(
                {"url": [_("give a button either a url or a copy_text (a Telegram copy-to-clipboard button)")]})
        return attrs


class WhatsAppTemplateSerializer(WholeMixin, serializers.Serializer):
    name = serializers.RegexField(r"^[a-z0-9_]{1,512}$", help_text=gettext_lazy("Approved template name."))
    language = serializers.CharField(max_length=16)
    # Blank values pass here so that the refusal can name the template variable left unmapped.
    parameters = serializers.ListField(child=serializers.CharField(max_length=1024, validators=[placeholders_valid],
                                                                   allow_blank=True),
                                       required=False, default=list)

    def validate(self, attrs: dict) -> dict:
        # Once templates are synced: only an approved one, with each of its variables mapped
        # (`parameters` in the order GET /api/whatsapp-templates/ lists its `variables`).
        if problems := whatsapp_template_problems(attrs):
            raise serializers.ValidationError(problems)
        return attrs


class DraftMediaUploadSerializer(serializers.Serializer):
    """POST /api/drafts/{id}/media/ (multipart)."""

    file = serializers.FileField(help_text=gettext_lazy("One JPEG, PNG, GIF, MP4 or PDF; the content decides the kind."))


class MediaUrlField(serializers.CharField):
    """An http(s) URL or "" (no media): a plain string in the schema, since "" is no URI."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(_http_url)  # a function, not URLValidator: the schema would call it "uri"


def _http_url(value: str) -> None:
    if value:
        URLValidator(schemes=["http", "https"], message=_("Enter a valid URL."))(value)


class DraftSerializer(serializers.ModelSerializer):
    media_url = MediaUrlField(max_length=1000, allow_blank=True, required=False, help_text=gettext_lazy(
        "Instead of an upload: the https address of the file, fetched once when it changes; \"\" removes it."))
    media = serializers.SerializerMethodField(
        help_text=gettext_lazy("The attached image, video or document (POST /api/drafts/{id}/media/ or media_url), "
                               "null when none."))
    buttons = ButtonSerializer(many=True, required=False)
    whatsapp_template = WhatsAppTemplateSerializer(required=False, allow_null=True)
    previews = serializers.SerializerMethodField(
        help_text=gettext_lazy("Per platform: the push line, what the notification shows, lengths and limits.")
    )

    class Meta:
        model = Draft
        fields = ["id", "title", "body", "buttons", "whatsapp_template", "media_url", "media", "track_links",
                  "track_body_links", "previews", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_previews(self, obj: Draft) -> dict[str, dict]:
        return services.content_checks(obj.body, buttons=obj.buttons, media_kind=obj.media_kind)

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "kind": {"type": "string", "enum": ["image", "video", "document"]}, "name": {"type": "string"},
        "content_type": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"},
        "source": {"type": "string", "enum": ["upload", "url"]}}})
    def get_media(self, obj: Draft) -> dict | None:
        if not obj.media_kind:
            return None
        return {"kind": obj.media_kind, "name": obj.media_name, "content_type": obj.media_content_type,
                "size": obj.media_size, "sha256": obj.media_sha256, "source": "upload" if obj.media else "url"}

    def validate_media_url(self, value: str) -> str:
        """A new media_url is fetched once, now: it must answer with a file we can send."""
        self._media_facts = None
        if value and (self.instance is None or value != self.instance.media_url or not self.instance.media_kind):
            try:
                self._media_facts = media_service.fetch_media_url(value)
            except services.ServiceError as exc:
                raise serializers.ValidationError(exc.messages) from exc
        return value

    def _media_from_url(self, validated_data: dict, instance: Draft | None) -> None:
        if "media_url" not in validated_data:
            return
        facts = getattr(self, "_media_facts", None)
        if facts is not None:
            validated_data.update(dataclasses.asdict(facts), media="")
        elif not validated_data["media_url"] and instance is not None and instance.media_url and not instance.media:
            validated_data.update(dataclasses.asdict(media_service.NO_MEDIA))

    def create(self, validated_data: dict) -> Draft:
        self._media_from_url(validated_data, None)
        return super().create(validated_data)

    def update(self, instance: Draft, validated_data: dict) -> Draft:
        old_file = instance.media.name
        self._media_from_url(validated_data, instance)
        draft = super().update(instance, validated_data)
        if old_file and draft.media.name != old_file:
            media_service.discard_on_commit(old_file)
        return draft

    def validate_body(self, value: str) -> str:
        placeholders_valid(value)
        return value

    def validate_buttons(self, value: list[dict]) -> list[dict]:
        if len(value) > 3:
            raise serializers.ValidationError(_("at most 3 buttons (WhatsApp shows no more)"))
        return value


class CampaignSerializer(serializers.ModelSerializer):
    platforms = serializers.MultipleChoiceField(choices=PLATFORM_CHOICES)
    stats = serializers.SerializerMethodField()
    content = serializers.SerializerMethodField(help_text=gettext_lazy("What is sent: frozen when scheduled."))
    # Maker-checker: usernames, null when nobody.
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                              help_text=gettext_lazy("Who created it."))
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                                help_text=gettext_lazy("Who asked for scheduling (approval required)."))
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                               help_text=gettext_lazy("Who approved it: another user than the submitter."))
    # Spread and send window (HH:MM strings, each person's own local hours; both or neither).
    spread_hours = spread_window.SpreadHoursField(help_text=gettext_lazy(
        "Send evenly over this many hours (0.01-168) from each person's send time, instead of as fast as the "
        "platform allows; null: at once."))
    send_window_start = spread_window.HourMinuteField(help_text=gettext_lazy(
        "Send only from this local time of each person (HH:MM), on top of quiet hours; with send_window_end."))
    send_window_end = spread_window.HourMinuteField(help_text=gettext_lazy(
        "Send only until this local time (HH:MM); earlier than the start: the window crosses midnight "
        "(20:00-02:00)."))
    # Recurring campaigns: `recurrence` (an RRULE) makes this a series whose runs are campaigns.
    recurrence_until = serializers.DateTimeField(required=False, allow_null=True, help_text=gettext_lazy(
        "A series' last moment: no run after it (the rule's own UNTIL or COUNT also end it); null: no end."))
    next_occurrences = serializers.SerializerMethodField(help_text=gettext_lazy(
        "A series' next five occurrences (when its next runs are made), in its time zone's wall clock."))
    # The sender account per platform, by slug (null: the platform's default account).
    telegram_account = accounts_api.campaign_account_field("telegram")
    whatsapp_account = accounts_api.campaign_account_field("whatsapp")
    viber_account = accounts_api.campaign_account_field("viber")
    # A/B test (2-4 variants) or VIP offers (one per VIP group): the variants, in order.
    variants = variants_api.VariantSerializer(many=True, required=False, help_text=gettext_lazy(
        "[{label, draft, segment}]: an A/B test's 2-4 drafts, or one per VIP group (segment); replaces the "
        "variants of a draft campaign. A new VIP campaign without them gets one per VIP group of its segment."))

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "draft", "segment", "platforms", "send_at", "local_time", "expires_at",
            "status", "problem", "problem_since", "stats", "content", "scheduled_at", "started_at", "finished_at",
            "cancelled_at", "created_by", "submitted_by", "submitted_at", "approved_by", "approved_at",
            "created_at", "updated_at",
            "spread_hours", "send_window_start", "send_window_end",
            "paid_broadcast",
            "manual",
            "follow_up_of", "follow_up_rule",
            "timezone", "recurrence", "recurrence_until", "series", "occurrence", "next_run_at", "next_occurrences",
            "kind", "protect_content", "ab_test_share", "ab_wait_minutes", "ab_metric", "ab_auto", "ab_winner",
            "ab_decided_at", "variants",
            "telegram_account", "whatsapp_account", "viber_account",
        ]  # fmt: skip
        read_only_fields = [
            "status", "problem", "problem_since", "scheduled_at", "started_at", "finished_at", "cancelled_at",
            "submitted_at", "approved_at", "created_at", "updated_at",
        ]  # fmt: skip

    def to_representation(self, instance: Campaign) -> dict:
        data = super().to_representation(instance)
        data["platforms"] = [p for p in PLATFORMS if p in instance.platforms]
        return data

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_stats(self, obj: Campaign) -> dict[str, int]:
        # A list's page is counted at once, from the counters: two queries per page, not per row.
        page = self.parent.instance if isinstance(self.parent, serializers.ListSerializer) else None
        stats = self.context.setdefault("_campaign_stats", {})
        if obj.pk not in stats:
            stats.update(selectors.campaigns_stats(list(page) if page is not None else [obj]))
        return stats[obj.pk]

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "date-time"}})
    def get_next_occurrences(self, obj: Campaign) -> list[str]:
        return series_api.next_occurrences(obj)

    @extend_schema_field({"type": "object", "nullable": True})
    def get_content(self, obj: Campaign) -> dict | None:
        if obj.status == Campaign.Status.DRAFT:
            return None
        return {
            "title": obj.content_title,
            "body": obj.content_body,
            "buttons": obj.content_buttons,
            "whatsapp_template": obj.content_whatsapp_template,
            "track_links": obj.content_track_links,
            "track_body_links": obj.content_track_body_links,
        }

    def validate_platforms(self, value: set[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError(_("choose at least one platform"))
        return [p for p in PLATFORMS if p in value]

    def validate(self, attrs: dict) -> dict:
        if self.instance is not None and self.instance.status != Campaign.Status.DRAFT:
            raise serializers.ValidationError(
                {"status": [_("a %(status)s campaign cannot be edited") % {"status": self.instance.status}]}
            )
        send_at = attrs.get("send_at", getattr(self.instance, "send_at", None))
        expires_at = attrs.get("expires_at", getattr(self.instance, "expires_at", None))
        if send_at and expires_at and expires_at <= send_at:
            raise serializers.ValidationError({"expires_at": [_("expires_at must be after send_at")]})
        if problems := spread_window.spread_window_problems(attrs, self.instance):
            raise serializers.ValidationError(problems)
        if problems := series_api.recurrence_problems(attrs, self.instance):  # rule, zone, end
            raise serializers.ValidationError(problems)
        paid = attrs.get("paid_broadcast", getattr(self.instance, "paid_broadcast", False))
        chosen = attrs.get("platforms", getattr(self.instance, "platforms", None)) or []
        if problem := paid_platform_problem(paid, chosen):
            raise serializers.ValidationError({"paid_broadcast": [problem]})
        if attrs.get("manual", getattr(self.instance, "manual", False)) and (problem := manual_platform_problem(
                attrs.get("platforms", getattr(self.instance, "platforms", None)) or [])):
            raise serializers.ValidationError({"platforms": [problem]})  # lists for the phone apps
        if problems := variants_api.variants_problems(attrs, self.instance):  # A/B test, VIP offers
            raise serializers.ValidationError(problems)
        if problems := accounts_api.campaign_accounts_problems(attrs, self.instance):  # each platform's account
            raise serializers.ValidationError(problems)
        return attrs

    def create(self, validated_data: dict) -> Campaign:
        variants = validated_data.pop("variants", None)  # nested: stored by the variants' service
        with transaction.atomic():
            campaign = super().create(validated_data)
            variants_api.variants_save(campaign, variants, created=True)
        return campaign

    def update(self, instance: Campaign, validated_data: dict) -> Campaign:
        variants = validated_data.pop("variants", None)
        with transaction.atomic():
            campaign = super().update(instance, validated_data)
            variants_api.variants_save(campaign, variants, created=False)
        return campaign


class CampaignRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text=gettext_lazy("Why: the marketer reads it in the audit log."))


class DeliverySerializer(serializers.ModelSerializer):
    address = AddressField()
    coupon = serializers.SerializerMethodField(help_text=gettext_lazy(
        "The coupon code this delivery was given ({{ coupon }}), null when none."))
    account = serializers.SerializerMethodField(help_text=gettext_lazy(
        "The sender account (bot or number) its list is sent from, by slug; null: the platform's default one."))

    class Meta:
        model = Delivery
        fields = [
            "id", "campaign", "subscriber", "platform", "account", "address", "list_number", "status", "reason",
            "send_after", "attempts", "sent_at", "delivered_at", "read_at", "clicked_at", "coupon",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_account(self, obj: Delivery) -> str | None:
        send_list = obj.send_list  # select_related("send_list__account") by the view: no query per row
        return send_list.account.slug if send_list is not None and send_list.account is not None else None

    def get_coupon(self, obj: Delivery) -> str | None:
        try:
            return obj.coupon.code
        except ObjectDoesNotExist:  # no code given (reverse one-to-one)
            return None


class ErasureReportSerializer(serializers.Serializer):
    subscriber = serializers.IntegerField()
    erased_at = serializers.DateTimeField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text=gettext_lazy("What was scrubbed or deleted."))
