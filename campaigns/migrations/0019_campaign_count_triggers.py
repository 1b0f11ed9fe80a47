"""Campaign counts kept by the database as ledger rows change, and the ledger's pages by id.

`campaigns_campaigncount` holds, per campaign, status and shard, how many `campaigns_delivery`
rows are in that status; `status = 'clicked'` counts the rows whose `clicked_at` is set.
Triggers keep it exact on every path that writes the ledger (planning's COPY, bulk_create,
bulk_update, .update(), webhooks, the retention purge, erasure, cascades): code cannot miss
one. The campaign list and the API read these few rows instead of counting millions.

The shard says two things: `shard // 32` is the platform (0 telegram, 1 whatsapp, 2 viber,
3 any other), so per-platform counts are read from the counters too; `shard % 32` is a slot
that spreads concurrent writers over different rows. A transaction takes the first free slot
with a transaction advisory lock (pg_try_advisory_xact_lock(7319, slot), starting from its
backend pid), so two transactions never update the same counter row at once: no waiting on
each other's counter rows, hence no deadlock through them. Sums over the shards are exact;
one shard alone may be negative.

PostgreSQL: statement-level triggers with transition tables (one aggregate upsert per
statement, not per row: a 50,000-row COPY costs one small INSERT ... ON CONFLICT). An UPDATE
counts only rows whose status, clicked_at (set or not), campaign or platform changed.
SQLite (the demo): row-level triggers doing the same, slot always 0.

Deleting a campaign deletes its counters (a trigger on campaigns_campaign), after the
cascade deleted its rows (which moved the counters again). Existing rows are counted once,
under a lock that keeps writers out until the triggers exist.
"""

from django.db import migrations, models

SLOTS = 32
PLATFORM_CODE = "CASE {col} WHEN 'telegram' THEN 0 WHEN 'whatsapp' THEN 1 WHEN 'viber' THEN 2 ELSE 3 END"

POSTGRES_FORWARD = f"""
LOCK TABLE campaigns_delivery IN SHARE ROW EXCLUSIVE MODE;

CREATE FUNCTION tact_platform_code(platform text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT {PLATFORM_CODE.format(col="platform")}
$$;

-- A counter slot no other running transaction writes: the first free one from this backend's
-- own; when all are taken, wait for this backend's own.
CREATE FUNCTION tact_count_slot() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    own integer := pg_backend_pid() % {SLOTS};
    slot integer;
BEGIN
    FOR i IN 0..{SLOTS - 1} LOOP
        slot := (own + i) % {SLOTS};
        IF pg_try_advisory_xact_lock(7319, slot) THEN
            RETURN slot;
        END IF;
    END LOOP;
    PERFORM pg_advisory_xact_lock(7319, own);
    RETURN own;
END $$;

CREATE FUNCTION tact_delivery_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    slot integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    slot := tact_count_slot();
    INSERT INTO campaigns_campaigncount AS c (campaign_id, status, shard, n)
    SELECT campaign_id, status, code * {SLOTS} + slot, count(*)
    FROM (SELECT campaign_id, status, tact_platform_code(platform) AS code FROM new_rows
          UNION ALL
          SELECT campaign_id, 'clicked', tact_platform_code(platform) FROM new_rows WHERE clicked_at IS NOT NULL) r
    GROUP BY campaign_id, status, code
    ORDER BY campaign_id, status, code
    ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION tact_delivery_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    slot integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;
    END IF;
    slot := tact_count_slot();
    INSERT INTO campaigns_campaigncount AS c (campaign_id, status, shard, n)
    SELECT campaign_id, status, code * {SLOTS} + slot, -count(*)
    FROM (SELECT campaign_id, status, tact_platform_code(platform) AS code FROM old_rows
          UNION ALL
          SELECT campaign_id, 'clicked', tact_platform_code(platform) FROM old_rows WHERE clicked_at IS NOT NULL) r
    GROUP BY campaign_id, status, code
    ORDER BY campaign_id, status, code
    ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION tact_delivery_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    slot integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    slot := tact_count_slot();
    WITH changed AS (
        SELECT o.campaign_id AS old_campaign, o.status AS old_status,
               tact_platform_code(o.platform) AS old_code, o.clicked_at IS NOT NULL AS old_clicked,
               n.campaign_id AS new_campaign, n.status AS new_status,
               tact_platform_code(n.platform) AS new_code, n.clicked_at IS NOT NULL AS new_clicked
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.status IS DISTINCT FROM n.status
           OR (o.clicked_at IS NULL) <> (n.clicked_at IS NULL)
           OR o.campaign_id <> n.campaign_id
           OR o.platform IS DISTINCT FROM n.platform
    ), deltas AS (
        SELECT old_campaign AS campaign_id, old_status AS status, old_code AS code, -1 AS d FROM changed
        UNION ALL SELECT new_campaign, new_status, new_code, 1 FROM changed
        UNION ALL SELECT old_campaign, 'clicked', old_code, -1 FROM changed WHERE old_clicked
        UNION ALL SELECT new_campaign, 'clicked', new_code, 1 FROM changed WHERE new_clicked
    )
    INSERT INTO campaigns_campaigncount AS c (campaign_id, status, shard, n)
    SELECT campaign_id, status, code * {SLOTS} + slot, sum(d)
    FROM deltas
    GROUP BY campaign_id, status, code
    HAVING sum(d) <> 0
    ORDER BY campaign_id, status, code
    ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION tact_delivery_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaigns_campaigncount;
    RETURN NULL;
END $$;

CREATE FUNCTION tact_campaign_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaigns_campaigncount c USING gone WHERE c.campaign_id = gone.id;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON campaigns_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_counts_insert();
CREATE TRIGGER delivery_counts_update AFTER UPDATE ON campaigns_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_counts_update();
CREATE TRIGGER delivery_counts_delete AFTER DELETE ON campaigns_delivery
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_counts_delete();
CREATE TRIGGER delivery_counts_truncate AFTER TRUNCATE ON campaigns_delivery
    FOR EACH STATEMENT EXECUTE FUNCTION tact_delivery_counts_truncate();
CREATE TRIGGER campaign_counts_delete AFTER DELETE ON campaigns_campaign
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tact_campaign_counts_delete();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS campaign_counts_delete ON campaigns_campaign;
DROP TRIGGER IF EXISTS delivery_counts_truncate ON campaigns_delivery;
DROP TRIGGER IF EXISTS delivery_counts_delete ON campaigns_delivery;
DROP TRIGGER IF EXISTS delivery_counts_update ON campaigns_delivery;
DROP TRIGGER IF EXISTS delivery_counts_insert ON campaigns_delivery;
DROP FUNCTION IF EXISTS tact_campaign_counts_delete();
DROP FUNCTION IF EXISTS tact_delivery_counts_truncate();
DROP FUNCTION IF EXISTS tact_delivery_counts_update();
DROP FUNCTION IF EXISTS tact_delivery_counts_delete();
DROP FUNCTION IF EXISTS tact_delivery_counts_insert();
DROP FUNCTION IF EXISTS tact_count_slot();
DROP FUNCTION IF EXISTS tact_platform_code(text);
"""


def _sqlite_bump(row: str, status: str, delta: int, when: str = "") -> str:
    """One counter move inside a SQLite trigger body (`row` is NEW or OLD)."""
    code = PLATFORM_CODE.format(col=f"{row}.platform")
    return (f"INSERT INTO campaigns_campaigncount (campaign_id, status, shard, n) "
            f"SELECT {row}.campaign_id, {status}, ({code}) * {SLOTS}, {delta} WHERE {when or '1'} "
            f"ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = n + excluded.n;")


SQLITE_FORWARD = [
    f"""CREATE TRIGGER delivery_counts_insert AFTER INSERT ON campaigns_delivery BEGIN
        {_sqlite_bump("NEW", "NEW.status", 1)}
        {_sqlite_bump("NEW", "'clicked'", 1, "NEW.clicked_at IS NOT NULL")}
    END""",
    f"""CREATE TRIGGER delivery_counts_update AFTER UPDATE OF status, clicked_at, campaign_id, platform
        ON campaigns_delivery
        WHEN OLD.status IS NOT NEW.status OR (OLD.clicked_at IS NULL) <> (NEW.clicked_at IS NULL)
             OR OLD.campaign_id <> NEW.campaign_id OR OLD.platform IS NOT NEW.platform
    BEGIN
        {_sqlite_bump("OLD", "OLD.status", -1)}
        {_sqlite_bump("NEW", "NEW.status", 1)}
        {_sqlite_bump("OLD", "'clicked'", -1, "OLD.clicked_at IS NOT NULL")}
        {_sqlite_bump("NEW", "'clicked'", 1, "NEW.clicked_at IS NOT NULL")}
    END""",
    f"""CREATE TRIGGER delivery_counts_delete AFTER DELETE ON campaigns_delivery BEGIN
        {_sqlite_bump("OLD", "OLD.status", -1)}
        {_sqlite_bump("OLD", "'clicked'", -1, "OLD.clicked_at IS NOT NULL")}
    END""",
    """CREATE TRIGGER campaign_counts_delete AFTER DELETE ON campaigns_campaign BEGIN
        DELETE FROM campaigns_campaigncount WHERE campaign_id = OLD.id;
    END""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS campaign_counts_delete",
    "DROP TRIGGER IF EXISTS delivery_counts_delete",
    "DROP TRIGGER IF EXISTS delivery_counts_update",
    "DROP TRIGGER IF EXISTS delivery_counts_insert",
]

BACKFILL = f"""
INSERT INTO campaigns_campaigncount (campaign_id, status, shard, n)
SELECT campaign_id, status, code * {SLOTS}, count(*)
FROM (SELECT campaign_id, status, {PLATFORM_CODE.format(col="platform")} AS code FROM campaigns_delivery
      UNION ALL
      SELECT campaign_id, 'clicked', {PLATFORM_CODE.format(col="platform")} FROM campaigns_delivery
      WHERE clicked_at IS NOT NULL) r
GROUP BY campaign_id, status, code
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)
    else:  # pragma: no cover - Tact runs on PostgreSQL or SQLite
        raise NotImplementedError(f"campaign counters need triggers on {vendor}")
    # Under the table lock (PostgreSQL) or the migration's write transaction (SQLite): no row
    # is written between this count and the triggers taking over.
    schema_editor.execute("DELETE FROM campaigns_campaigncount", params=None)
    schema_editor.execute(BACKFILL, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    else:
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, params=None)
    schema_editor.execute("DELETE FROM campaigns_campaigncount", params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0018_roles_variant_permissions")]
    operations = [
        migrations.RunPython(forward, backward),
        # /api/deliveries/?campaign=N pages by id (a cursor): this index reads a page directly.
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["campaign", "id"], name="delivery_campaign_id_idx"),
        ),
    ]
