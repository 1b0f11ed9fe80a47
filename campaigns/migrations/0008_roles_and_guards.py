"""The four roles as groups, and the database guards of the audit log and of erasure.

Groups: Marketer, Approver, Analyst, Operator (editable in the admin afterwards; this
migration only creates them and gives each its starting permissions).

Guards (PostgreSQL): the audit log is append-only; consent events stay append-only except
for the one scrub an erasure makes, inside a transaction that set `tact.erasure = 'on'`:
text and evidence emptied, everything else unchanged.
"""

from django.db import migrations

from campaigns.roles import ROLES, roles_ensure  # the role table lives with the app


def create_roles(apps, schema_editor):
    roles_ensure(apps=apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


GUARDS = """
CREATE OR REPLACE FUNCTION tact_consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one change allowed: an erasure empties the wording and the evidence.
    IF TG_OP = 'UPDATE' AND current_setting('tact.erasure', true) = 'on'
       AND NEW.id = OLD.id AND NEW.subscription_id = OLD.subscription_id AND NEW.kind = OLD.kind
       AND NEW.status = OLD.status AND NEW.source = OLD.source AND NEW.by_person = OLD.by_person
       AND NEW.at = OLD.at AND NEW.recorded_at = OLD.recorded_at
       AND NEW.text = '' AND NEW.evidence = '{}'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent events are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE FUNCTION tact_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one change allowed: an erasure scrubs what an entry said about the person.
    IF TG_OP = 'UPDATE' AND current_setting('tact.erasure', true) = 'on'
       AND NEW.id = OLD.id AND NEW.content_type_id = OLD.content_type_id AND NEW.object_pk = OLD.object_pk
       AND NEW.action = OLD.action AND NEW.timestamp = OLD.timestamp
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE ON auditlog_logentry
    FOR EACH ROW EXECUTE FUNCTION tact_audit_append_only();
"""

GUARDS_BACK = """
DROP TRIGGER IF EXISTS audit_append_only ON auditlog_logentry;
DROP FUNCTION IF EXISTS tact_audit_append_only();
CREATE OR REPLACE FUNCTION tact_consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent events are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the % in RAISE stays as written


def guards(apps, schema_editor):
    _run(schema_editor, GUARDS)


def guards_back(apps, schema_editor):
    _run(schema_editor, GUARDS_BACK)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_roles_privacy_approval_imports"),
        ("tact_channels", "0004_pending_updates"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auditlog", "0017_add_actor_email"),
        ("axes", "0010_accessattemptexpiration"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
        migrations.RunPython(guards, guards_back),
    ]
