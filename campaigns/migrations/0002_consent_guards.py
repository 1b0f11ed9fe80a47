"""Database guards for consent, on PostgreSQL (the demo's SQLite relies on the services).

- consent events are append-only: UPDATE and DELETE are refused;
- a subscription cannot be opted in (at commit) unless its latest consent event is an
  opt-in: checked by a deferred constraint trigger, so a service may insert the
  subscription and its event in either order within one transaction.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION tact_consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent events are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER consent_append_only
    BEFORE UPDATE OR DELETE ON campaigns_consentevent
    FOR EACH ROW EXECUTE FUNCTION tact_consent_append_only();

CREATE FUNCTION tact_opt_in_needs_consent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_kind text;
    current_status text;
BEGIN
    -- Deferred: judge the row as it is at commit, not as it was when queued.
    SELECT status INTO current_status FROM campaigns_subscription WHERE id = NEW.id;
    IF current_status = 'opted_in' THEN
        SELECT kind INTO last_kind FROM campaigns_consentevent
            WHERE subscription_id = NEW.id ORDER BY id DESC LIMIT 1;
        IF last_kind IS DISTINCT FROM 'opt_in' THEN
            RAISE EXCEPTION 'subscription % is opted in without an opt-in consent event', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER subscription_opt_in_needs_consent
    AFTER INSERT OR UPDATE OF status ON campaigns_subscription
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tact_opt_in_needs_consent();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS subscription_opt_in_needs_consent ON campaigns_subscription;
DROP FUNCTION IF EXISTS tact_opt_in_needs_consent();
DROP TRIGGER IF EXISTS consent_append_only ON campaigns_consentevent;
DROP FUNCTION IF EXISTS tact_consent_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
