"""What writing a ledger row costs (issue 13: planning a million rows within 10x a bare COPY).

Measured on a million planned rows (2 cores): writing the bare rows took 3 s, the ledger's
13 full indexes 11 s more, and its five foreign keys 30 s more, checked row by row at commit
(each a trigger and a lookup of its parent, about 6 µs, even for the one campaign of all the
rows and even when the column is NULL).

Indexes: the foreign keys' own indexes go (each repeats the leading column of another index:
(campaign, status, list_number), (send_list, status, send_after), (subscription, status),
and the unique (subscriber, campaign), whose columns are swapped so that it also finds a
person's rows); a person's sends that count against the caps (sending, sent, delivered, read,
uncertain), the platform's message ids and the variants are indexed only where set (partial
indexes: a planned row adds nothing to them). A person's sends are indexed latest first, then
their campaign: the caps are counted from the index alone (forecast_counts).

References: the five foreign keys become checks per statement (PostgreSQL). After an INSERT,
one query over the statement's new rows looks up their campaigns, lists and variants (a few
distinct values) and joins their subscriptions (one hash join), and raises
foreign_key_violation naming the first missing one (planning's own INSERT ... SELECT reads
people and subscriptions from their tables under the lock below and says so:
`tact.ledger_refs_checked`, delivery/plan_sql.py); an UPDATE that changes a reference
checks that row (at commit, as the foreign key did). A row's parent cannot go between that
check and the commit: writers of ledger rows hold a shared advisory lock (7331, 0) until they
commit, and a statement deleting campaigns, people, subscriptions, lists or variants takes it
exclusively first; deleting a parent that still has ledger rows raises foreign_key_violation
at commit (as NO ACTION DEFERRABLE did; Django deletes the rows first, on_delete=CASCADE).
SQLite (the demo) keeps no check of these references; altering the ledger's columns there
remakes its table, which drops its counters' triggers (migration 0019): they are made again.
"""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

LOCK = "7331, 0"
PARENTS = {  # parent table: the ledger's column that refers to it
    "campaigns_campaign": "campaign_id",
    "campaigns_subscriber": "subscriber_id",
    "campaigns_subscription": "subscription_id",
    "campaigns_sendlist": "send_list_id",
    "campaigns_campaignvariant": "variant_id",
}

REFS_CHECK = """
-- After an INSERT: the first reference of the new rows to a campaign, list, variant,
-- subscription or person that does not exist is an error.
CREATE FUNCTION tact_delivery_refs_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared({lock});
    -- Planning's own INSERT ... SELECT reads the people and subscriptions it writes from their
    -- tables under this lock, for a campaign it holds and lists it just made: it says so.
    IF current_setting('tact.ledger_refs_checked', true) = 'on' THEN
        RETURN NULL;
    END IF;
    SELECT CASE WHEN c.id IS NULL THEN 'campaign ' || r.campaign_id
                WHEN r.send_list_id IS NOT NULL AND l.id IS NULL THEN 'send list ' || r.send_list_id
                ELSE 'variant ' || r.variant_id END
    INTO missing
    FROM (SELECT DISTINCT campaign_id, send_list_id, variant_id FROM new_rows) r
    LEFT JOIN campaigns_campaign c ON c.id = r.campaign_id
    LEFT JOIN campaigns_sendlist l ON l.id = r.send_list_id
    LEFT JOIN campaigns_campaignvariant v ON v.id = r.variant_id
    WHERE c.id IS NULL OR (r.send_list_id IS NOT NULL AND l.id IS NULL) OR (r.variant_id IS NOT NULL AND v.id IS NULL)
    LIMIT 1;
    IF missing IS NULL THEN
        -- A subscription names its person: only a row whose person differs looks the person up.
        SELECT CASE WHEN s.id IS NULL THEN 'subscription ' || r.subscription_id
                    ELSE 'subscriber ' || r.subscriber_id END
        INTO missing
        FROM new_rows r LEFT JOIN campaigns_subscription s ON s.id = r.subscription_id
        WHERE s.id IS NULL OR (s.subscriber_id <> r.subscriber_id
                               AND NOT EXISTS (SELECT 1 FROM campaigns_subscriber p WHERE p.id = r.subscriber_id))
        LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('insert into campaigns_delivery: its %s does not exist', missing);
    END IF;
    RETURN NULL;
END $$;

-- At commit, for a row whose references an UPDATE changed: the changed ones exist.
CREATE FUNCTION tact_delivery_refs_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({lock});
    IF (NEW.campaign_id IS DISTINCT FROM OLD.campaign_id
        AND NOT EXISTS (SELECT 1 FROM campaigns_campaign WHERE id = NEW.campaign_id))
       OR (NEW.subscriber_id IS DISTINCT FROM OLD.subscriber_id
           AND NOT EXISTS (SELECT 1 FROM campaigns_subscriber WHERE id = NEW.subscriber_id))
       OR (NEW.subscription_id IS DISTINCT FROM OLD.subscription_id
           AND NOT EXISTS (SELECT 1 FROM campaigns_subscription WHERE id = NEW.subscription_id))
       OR (NEW.send_list_id IS DISTINCT FROM OLD.send_list_id AND NEW.send_list_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM campaigns_sendlist WHERE id = NEW.send_list_id))
       OR (NEW.variant_id IS DISTINCT FROM OLD.variant_id AND NEW.variant_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM campaigns_campaignvariant WHERE id = NEW.variant_id)) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('update of campaigns_delivery %s: a campaign, person, subscription, list or variant '
                             'it now refers to does not exist', NEW.id);
    END IF;
    RETURN NULL;
END $$;

-- Before a statement deletes rows that ledger rows may refer to: no ledger rows are being
-- written meanwhile (see tact_delivery_refs_insert), and none until it commits.
CREATE FUNCTION tact_delivery_parents_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({lock});
    RETURN NULL;
END $$;

-- At commit: a deleted parent has no ledger rows left (TG_ARGV[0]: the ledger's column).
CREATE FUNCTION tact_delivery_parent_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    left_over boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM campaigns_delivery WHERE %I = $1)', TG_ARGV[0])
        INTO left_over USING OLD.id;
    IF left_over THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('delete from %s: campaigns_delivery still refers to %s', TG_TABLE_NAME, OLD.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_refs_insert AFTER INSERT ON campaigns_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_refs_insert();
CREATE CONSTRAINT TRIGGER delivery_refs_update
    AFTER UPDATE OF campaign_id, subscriber_id, subscription_id, send_list_id, variant_id ON campaigns_delivery
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.subscriber_id IS DISTINCT FROM NEW.subscriber_id
          OR OLD.subscription_id IS DISTINCT FROM NEW.subscription_id
          OR OLD.send_list_id IS DISTINCT FROM NEW.send_list_id OR OLD.variant_id IS DISTINCT FROM NEW.variant_id)
    EXECUTE FUNCTION tact_delivery_refs_update();
""".replace("{lock}", LOCK)

PARENT_TRIGGERS = "".join(f"""
CREATE TRIGGER delivery_parents_lock BEFORE DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_parents_lock();
CREATE CONSTRAINT TRIGGER delivery_parent_gone AFTER DELETE ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tact_delivery_parent_gone('{column}');
""" for table, column in PARENTS.items())

BACKWARD = "".join(f"""
DROP TRIGGER IF EXISTS delivery_parent_gone ON {table};
DROP TRIGGER IF EXISTS delivery_parents_lock ON {table};
""" for table in PARENTS) + """
DROP TRIGGER IF EXISTS delivery_refs_update ON campaigns_delivery;
DROP TRIGGER IF EXISTS delivery_refs_insert ON campaigns_delivery;
DROP FUNCTION IF EXISTS tact_delivery_parent_gone();
DROP FUNCTION IF EXISTS tact_delivery_parents_lock();
DROP FUNCTION IF EXISTS tact_delivery_refs_update();
DROP FUNCTION IF EXISTS tact_delivery_refs_insert();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFS_CHECK + PARENT_TRIGGERS, params=None)
    else:
        sqlite_counters(apps, schema_editor)


def sqlite_counters(apps, schema_editor):
    """SQLite: the counters' triggers of migration 0019, made again after the table was remade."""
    if schema_editor.connection.vendor != "sqlite":
        return
    counters = import_module("campaigns.migrations.0019_campaign_count_triggers")
    for statement in counters.SQLITE_BACKWARD:
        schema_editor.execute(statement, params=None)
    for statement in counters.SQLITE_FORWARD:
        schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


def _fk(to: str, verbose_name: str, **extra) -> models.ForeignKey:
    return models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE,
                             related_name="deliveries", to=to, verbose_name=verbose_name, **extra)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0020_sender_accounts"),
    ]

    operations = [
        # undoing this migration on SQLite remakes the table again: its counters' triggers last
        migrations.RunPython(migrations.RunPython.noop, sqlite_counters),
        migrations.RemoveConstraint(model_name="delivery", name="delivery_once_per_person"),
        migrations.RemoveIndex(model_name="delivery", name="campaigns_d_subscri_19f579_idx"),
        migrations.RemoveIndex(model_name="delivery", name="campaigns_d_platfor_372603_idx"),
        migrations.AlterField(model_name="delivery", name="campaign", field=_fk("campaigns.campaign", "campaign")),
        migrations.AlterField(model_name="delivery", name="send_list",
                              field=_fk("campaigns.sendlist", "send list", null=True)),
        migrations.AlterField(model_name="delivery", name="subscriber",
                              field=_fk("campaigns.subscriber", "subscriber")),
        migrations.AlterField(model_name="delivery", name="subscription",
                              field=_fk("campaigns.subscription", "subscription")),
        migrations.AlterField(model_name="delivery", name="variant",
                              field=_fk("campaigns.campaignvariant", "variant", blank=True, null=True)),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(fields=("subscriber", "campaign"), name="delivery_once_per_person"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", False),
                                   ("status__in", ["sending", "sent", "delivered", "read", "uncertain"])),
                fields=["subscriber", "-sent_at", "campaign"], name="delivery_person_sent_idx"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(condition=models.Q(("platform_message_id", ""), _negated=True),
                               fields=["platform", "platform_message_id"], name="delivery_message_id_idx"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(condition=models.Q(("variant__isnull", False)), fields=["variant"],
                               name="delivery_variant_idx"),
        ),
        migrations.RunPython(forward, backward),
    ]
