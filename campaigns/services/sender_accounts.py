"""Sender accounts (a brand's bots and numbers): saved with their credentials checked and
encrypted, asked on their platform whether the credentials work, and what keeps a campaign's
picked accounts from sending.

Credentials are never logged, audited or answered: the admin and the API show which are set
and the public ones (SenderAccount.PUBLIC) only.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from channels.account_check import AccountCheck, check_account

from .. import rules
from ..audit import audit_record
from ..credentials import CredentialsUnreadable
from ..models import Campaign, PlatformChoices, SenderAccount
from .errors import ServiceError

# Limiter keys end in ":paid" for a bot's paid broadcasts, and "default" names the environment's
# account in metrics and the forecast: an account called so would be mistaken for them.
RESERVED_SLUGS = frozenset({"paid", "default"})
# Fields of an account a person sets besides its credentials.
FIELDS = ("platform", "name", "slug", "rate_per_second", "active")


def platform_name(platform: str) -> str:
    return str(dict(PlatformChoices.choices).get(platform, platform))


def is_secret(field: str) -> bool:
    """A secret credential is never shown again once saved."""
    return field not in SenderAccount.PUBLIC


def secret_fields(platform: str) -> tuple[str, ...]:
    return tuple(f for f in SenderAccount.FIELDS.get(platform, ()) if is_secret(f))


def webhook_url(account: SenderAccount) -> str:
    """Where its platform calls us for this account (set it there): {TACT_PUBLIC_URL}/webhooks/<platform>/<slug>/."""
    return f"{settings.TACT_PUBLIC_URL}/webhooks/{account.platform}/{account.slug}/"


def stored_credentials(account: SenderAccount) -> dict[str, str]:
    """Its credentials as saved ({} when none or when they cannot be decrypted any more)."""
    try:
        return account.credentials
    except CredentialsUnreadable:
        return {}


def credentials_readable(account: SenderAccount) -> bool:
    try:
        account.credentials
    except CredentialsUnreadable:
        return False
    return True


def slug_problem(slug: str) -> str | None:
    if slug.lower() in RESERVED_SLUGS:
        return _("“%(slug)s” is reserved (it names the default account or paid broadcasts); choose another slug") % {
            "slug": slug}
    return None


def credentials_problems(platform: str, credentials: Mapping[str, object]) -> dict[str, list[str]]:
    """What is wrong with a platform's credentials (all of them, as they will be saved), by field name."""
    problems: dict[str, list[str]] = {}
    allowed = SenderAccount.FIELDS.get(platform, ())
    for field, value in credentials.items():
        if field not in allowed:
            problems[field] = [_("not a %(platform)s credential; one of %(fields)s")
                               % {"platform": platform_name(platform), "fields": ", ".join(allowed)}]
        elif not isinstance(value, str):
            problems[field] = [_("a string")]
        elif len(value) > 1000:
            problems[field] = [_("at most 1000 characters")]
        elif value and field not in ("sender_name", "api_url") and not rules.is_token_text(value):
            problems[field] = [_("a token has only visible ASCII characters (letters, digits, punctuation), "
                                 "no spaces")]
    for field in SenderAccount.REQUIRED.get(platform, ()):
        if not credentials.get(field) and field not in problems:
            problems[field] = [_("required for a %(platform)s account") % {"platform": platform_name(platform)}]
    url = credentials.get("api_url")
    if isinstance(url, str) and url and "api_url" not in problems:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            problems["api_url"] = [_("an http(s) URL of the platform's API server (empty: the platform's own)")]
    return problems


def account_prepare(*, account: SenderAccount, values: Mapping[str, object],
                    credentials: Mapping[str, object | None]) -> list[str]:
    """Check `values` (FIELDS) and `credentials` and put them on `account`, credentials encrypted
    (not saved: the admin's form validates the model's own fields next). In `credentials` a given
    key replaces the stored value, None or "" removes it, and a key not given keeps it.
    ServiceError names each field it refuses; credentials as "credentials.<name>"."""
    problems: dict[str, list[str]] = {}
    platform = str(values.get("platform", account.platform) or "")
    if platform not in SenderAccount.FIELDS:
        problems["platform"] = [_("choose telegram, whatsapp or viber")]
    elif account.pk is not None and platform != account.platform:
        problems["platform"] = [_("an account's platform cannot change (its subscriptions are of it); add another "
                                  "account instead")]
    slug = str(values.get("slug", account.slug) or "")
    if problem := slug_problem(slug):
        problems["slug"] = [problem]
    stored = stored_credentials(account) if account.pk is not None else {}
    merged: dict[str, object] = {**stored}
    for field, value in credentials.items():
        if value is None or value == "":
            merged.pop(field, None)
        else:
            merged[field] = value.strip() if isinstance(value, str) else value
    if "platform" not in problems:
        for field, messages in credentials_problems(platform, merged).items():
            problems[f"credentials.{field}"] = messages
    if problems:
        raise ServiceError(problems)
    for field in FIELDS:
        if field in values:
            setattr(account, field, values[field])
    account.set_credentials(merged)  # type: ignore[arg-type]
    return sorted(f for f in {*stored, *merged} if stored.get(f) != merged.get(f))


def audit_credentials(account: SenderAccount, changed: list[str], actor: AbstractBaseUser | None) -> None:
    """The audit log says which credentials changed, never their values (its own entry
    leaves credentials_encrypted out)."""
    if changed:
        audit_record(account, verb="changed", actor=actor, before={"credentials changed": None},
                     after={"credentials changed": changed})


def account_save(*, account: SenderAccount, values: Mapping[str, object], credentials: Mapping[str, object | None],
                 actor: AbstractBaseUser | None = None) -> SenderAccount:
    """Add or change `account` (see account_prepare); the model's own rules too (slug unique, ...)."""
    changed = account_prepare(account=account, values=values, credentials=credentials)
    try:
        account.full_clean(exclude=["credentials_encrypted"])
    except ValidationError as exc:
        raise ServiceError({field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}) from exc
    account.save()
    audit_credentials(account, changed, actor)
    return account


def account_check(*, account: SenderAccount) -> AccountCheck:
    """Ask the platform whether the account's credentials work (nothing is stored)."""
    try:
        credentials = account.credentials
    except CredentialsUnreadable as exc:
        return AccountCheck(False, str(exc))
    missing = [f for f in SenderAccount.REQUIRED[account.platform] if not credentials.get(f)]
    if missing:
        return AccountCheck(False, _("missing: %(fields)s") % {"fields": ", ".join(missing)})
    return check_account(account.platform, credentials, secrets=secret_fields(account.platform),
                         timeout=min(settings.TACT_SEND_TIMEOUT, 10.0))


def account_field(platform: str) -> str:
    """The campaign's field naming its account on `platform`."""
    return f"{platform}_account"


def picked_account_problem(platform: str, account: SenderAccount | None) -> str | None:
    """Why `account` cannot send `campaign`'s messages on `platform` (None: it can)."""
    if account is None:
        return None
    names = {"account": account.name, "slug": account.slug, "platform": platform_name(platform)}
    if account.platform != platform:
        return _("“%(account)s” (%(slug)s) is not a %(platform)s account") % names
    if not account.active:
        return _("the %(platform)s account “%(account)s” (%(slug)s) is inactive: activate it or pick another "
                 "(empty: the default account)") % names
    if not credentials_readable(account):
        return _("the credentials of the %(platform)s account “%(account)s” (%(slug)s) cannot be decrypted "
                 "(TACT_CREDENTIALS_KEY changed?): enter them again") % names
    return None


def campaign_account_problems(campaign: Campaign) -> dict[str, list[str]]:
    """Why the accounts the campaign picked cannot send now, by field (telegram_account, ...)."""
    problems: dict[str, list[str]] = {}
    for platform in campaign.platforms or []:
        if campaign.account_id_for(platform) is None:
            continue
        account = getattr(campaign, account_field(platform))
        if problem := picked_account_problem(platform, account):
            problems[account_field(platform)] = [problem]
    return problems
