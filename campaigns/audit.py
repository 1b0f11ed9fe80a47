"""The audit log: who created, changed, scheduled, approved, ... what, when, before and after.

django-auditlog records every save and delete of the registered models with its changes;
`audit_record` adds the verbs that are not a plain field change (scheduled, approved,
imported, opted out, erased), each with before and after. On PostgreSQL a trigger keeps
the log append-only; only an erasure may scrub a person's entries (see services/privacy).
"""

from __future__ import annotations

from typing import Any

from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

VERB_BY_ACTION = {LogEntry.Action.CREATE: "created", LogEntry.Action.UPDATE: "changed",
                  LogEntry.Action.DELETE: "deleted", LogEntry.Action.ACCESS: "accessed"}
# The maker-checker steps of a campaign, as `audit_record` verbs.
APPROVAL_VERBS = ("submitted", "approved", "rejected", "approval withdrawn")
# Every verb the log knows (the audit page filters by them); a new `audit_record` verb goes here.
VERBS = (*VERB_BY_ACTION.values(), "scheduled", *APPROVAL_VERBS, "paused", "resumed", "cancelled",
         "opted out", "suppressed", "imported", "erased", "list marked sent", "list downloaded", "resent",
         "A/B winner picked")


class AuditActorMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the actor read when an entry is written, not before.

    DRF authenticates a token inside the view, after every middleware has run; DRF then
    sets the user on the underlying request, which is where this lazy actor looks.
    """

    @staticmethod
    def _get_actor(request: HttpRequest) -> Any:
        def actor() -> Any:
            user = getattr(request, "user", None)
            return user if isinstance(user, get_user_model()) and user.is_authenticated else None

        return SimpleLazyObject(actor)


def audit_record(
    instance: models.Model,
    *,
    verb: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Any = None,
    extra: dict[str, Any] | None = None,
) -> LogEntry:
    """Write one audit entry for `verb` done to `instance` (changes as {field: [before, after]})."""
    before, after = before or {}, after or {}
    changes = {key: [_plain(before.get(key)), _plain(after.get(key))] for key in {*before, *after}}
    action = {"created": LogEntry.Action.CREATE, "deleted": LogEntry.Action.DELETE}.get(verb, LogEntry.Action.UPDATE)
    kwargs: dict[str, Any] = {"action": action, "changes": changes, "additional_data": {"verb": verb, **(extra or {})}}
    if actor is not None and getattr(actor, "is_authenticated", False):
        kwargs["actor"] = actor
    return LogEntry.objects.log_create(instance, force_log=True, **kwargs)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


def register_models() -> None:
    """Which models the log follows, and which of their fields are bookkeeping, not edits."""
    from django.contrib.auth.models import Group

    from .models import (
        Campaign,
        Draft,
        FrequencyPolicy,
        Segment,
        SenderAccount,
        Subscriber,
        Subscription,
        Tag,
    )

    auditlog.register(Subscriber, exclude_fields=["created_at", "updated_at"], m2m_fields={"tags"})
    auditlog.register(Subscription, exclude_fields=["created_at", "updated_at", "last_inbound_at"])
    auditlog.register(Segment, exclude_fields=["created_at", "updated_at"], m2m_fields={"members"})
    auditlog.register(Draft, exclude_fields=["created_at", "updated_at"])
    auditlog.register(Tag)
    auditlog.register(FrequencyPolicy, exclude_fields=["updated_at"])
    # The engine's own bookkeeping (planning marks, problems) is not an edit by a person.
    auditlog.register(Campaign, include_fields=[
        "name", "draft", "segment", "platforms", "send_at", "local_time", "expires_at", "status",
        "submitted_by", "approved_by", "telegram_account", "whatsapp_account", "viber_account",
    ])
    # Never its credentials, not even encrypted: the log is read by more people than operators.
    auditlog.register(SenderAccount, exclude_fields=["credentials_encrypted", "created_at", "updated_at"])
    auditlog.register(get_user_model(), exclude_fields=["password", "last_login"], m2m_fields={"groups", "user_permissions"})
    auditlog.register(Group, m2m_fields={"permissions"})
