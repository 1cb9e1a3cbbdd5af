"""Remittance bulk tables: references checked once per statement instead of once per row.

`remittance_share` and `remittance_line` are written 100,000 rows at a time (one batch).
Their foreign keys cost a check per row (measured: 3.5 s of an 8 s 100,000-line batch on
PostgreSQL), so, as for `due` (migration 0002), the foreign keys go and the database checks
the same references set-based: a statement trigger over the inserted rows on PostgreSQL,
row triggers on SQLite (where checks are cheap). What they guarantee, on both:

- a link's batch is a remittance batch of its organisation, its share a contribution share
  of that organisation; a line's batch, member and acknowledgement likewise;
- a link's or a line's keys (organisation, batch, share or member) never change;
- a batch, an acknowledgement, a member or a contribution share that a line or a link names
  is never deleted (and its key never changes); a contribution share is never deleted at all
  (a reversal adds a negative share), so no concurrent delete can slip between the check
  and the commit.

The one-live-batch guarantee (`uq_remittance_share_live`) is untouched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 13:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its columns, referenced table, referenced columns)
_KEYS = [
    ("remittance_share", ["batch_id"], "remittance_batch"),
    ("remittance_share", ["share_id"], "contribution_share"),
    ("remittance_line", ["batch_id"], "remittance_batch"),
    ("remittance_line", ["member_id"], "member"),
    ("remittance_line", ["acknowledgement_id"], "remittance_acknowledgement"),
]

_PG = [
    # -- the children: checked once per statement ----------------------------------------------
    # Probing the parents' primary keys costs per inserted row, never per parent row: a
    # contribution_share table holds years of shares. The function's own settings keep the
    # planner on index probes even inside batch creation (which turns nested loops off).
    """
    CREATE FUNCTION remittance_share_check_references() RETURNS trigger LANGUAGE plpgsql
    SET enable_nestloop = on SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    BEGIN
      IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT organisation_id, batch_id FROM link_new) n
        WHERE NOT EXISTS (
          SELECT 1 FROM remittance_batch b
          WHERE b.organisation_id = n.organisation_id AND b.id = n.batch_id)
      ) THEN
        RAISE EXCEPTION 'remittance_share: batch_id is not a remittance batch of its organisation'
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      IF EXISTS (
        SELECT 1 FROM link_new n
        WHERE NOT EXISTS (
          SELECT 1 FROM contribution_share s
          WHERE s.organisation_id = n.organisation_id AND s.id = n.share_id)
      ) THEN
        RAISE EXCEPTION 'remittance_share: share_id is not a contribution share of its organisation'
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER remittance_share_references AFTER INSERT ON remittance_share
    REFERENCING NEW TABLE AS link_new FOR EACH STATEMENT
    EXECUTE FUNCTION remittance_share_check_references()
    """,
    """
    CREATE FUNCTION remittance_line_check_references() RETURNS trigger LANGUAGE plpgsql
    SET enable_nestloop = on SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    BEGIN
      IF TG_OP = 'INSERT' AND EXISTS (
        SELECT 1 FROM (SELECT DISTINCT organisation_id, batch_id FROM line_new) n
        WHERE NOT EXISTS (
          SELECT 1 FROM remittance_batch b
          WHERE b.organisation_id = n.organisation_id AND b.id = n.batch_id)
      ) THEN
        RAISE EXCEPTION 'remittance_line: batch_id is not a remittance batch of its organisation'
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      IF TG_OP = 'INSERT' AND EXISTS (
        SELECT 1 FROM line_new n
        WHERE NOT EXISTS (
          SELECT 1 FROM member m WHERE m.organisation_id = n.organisation_id AND m.id = n.member_id)
      ) THEN
        RAISE EXCEPTION 'remittance_line: member_id is not a member of its organisation'
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      IF EXISTS (
        SELECT 1 FROM (
          SELECT DISTINCT organisation_id, acknowledgement_id FROM line_new
          WHERE acknowledgement_id IS NOT NULL
        ) n
        WHERE NOT EXISTS (
          SELECT 1 FROM remittance_acknowledgement a
          WHERE a.organisation_id = n.organisation_id AND a.id = n.acknowledgement_id)
      ) THEN
        RAISE EXCEPTION 'remittance_line: acknowledgement_id is not an acknowledgement of its organisation'
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER remittance_line_references AFTER INSERT ON remittance_line
    REFERENCING NEW TABLE AS line_new FOR EACH STATEMENT
    EXECUTE FUNCTION remittance_line_check_references()
    """,
    """
    CREATE TRIGGER remittance_line_references_on_update AFTER UPDATE ON remittance_line
    REFERENCING NEW TABLE AS line_new FOR EACH STATEMENT
    EXECUTE FUNCTION remittance_line_check_references()
    """,
    """
    CREATE FUNCTION remittance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    "CREATE TRIGGER remittance_share_keys_fixed BEFORE UPDATE ON remittance_share FOR EACH ROW "
    "WHEN (OLD.organisation_id IS DISTINCT FROM NEW.organisation_id OR OLD.batch_id IS DISTINCT "
    "FROM NEW.batch_id OR OLD.share_id IS DISTINCT FROM NEW.share_id) EXECUTE FUNCTION "
    "remittance_refuse_change('a remittance link''s batch and share never change')",
    "CREATE TRIGGER remittance_line_keys_fixed BEFORE UPDATE ON remittance_line FOR EACH ROW "
    "WHEN (OLD.organisation_id IS DISTINCT FROM NEW.organisation_id OR OLD.batch_id IS DISTINCT "
    "FROM NEW.batch_id OR OLD.member_id IS DISTINCT FROM NEW.member_id) EXECUTE FUNCTION "
    "remittance_refuse_change('a remittance line''s batch and member never change')",
    # -- the parents: what a line or a link names stays -----------------------------------------
    "CREATE TRIGGER contribution_share_kept BEFORE DELETE ON contribution_share FOR EACH ROW "
    "EXECUTE FUNCTION remittance_refuse_change('a contribution share is never deleted (a "
    "reversal adds a negative share)')",
    "CREATE TRIGGER contribution_share_key_fixed BEFORE UPDATE ON contribution_share FOR EACH "
    "ROW WHEN (OLD.organisation_id IS DISTINCT FROM NEW.organisation_id OR OLD.id IS DISTINCT "
    "FROM NEW.id) EXECUTE FUNCTION remittance_refuse_change('a contribution share''s key never "
    "changes')",
    """
    CREATE FUNCTION remittance_parent_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.organisation_id IS NOT DISTINCT FROM NEW.organisation_id
         AND OLD.id IS NOT DISTINCT FROM NEW.id THEN
        RETURN NEW;
      END IF;
      IF (TG_TABLE_NAME = 'remittance_batch' AND (
            EXISTS (SELECT 1 FROM remittance_line
                    WHERE organisation_id = OLD.organisation_id AND batch_id = OLD.id)
         OR EXISTS (SELECT 1 FROM remittance_share
                    WHERE organisation_id = OLD.organisation_id AND batch_id = OLD.id)))
      OR (TG_TABLE_NAME = 'member' AND EXISTS (
            SELECT 1 FROM remittance_line
            WHERE organisation_id = OLD.organisation_id AND member_id = OLD.id))
      OR (TG_TABLE_NAME = 'remittance_acknowledgement' AND EXISTS (
            SELECT 1 FROM remittance_line
            WHERE organisation_id = OLD.organisation_id AND acknowledgement_id = OLD.id))
      THEN
        RAISE EXCEPTION '% % is named by remittance lines or links: it stays', TG_TABLE_NAME, OLD.id
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END $$
    """,
    "CREATE TRIGGER remittance_batch_kept BEFORE DELETE OR UPDATE OF organisation_id, id "
    "ON remittance_batch FOR EACH ROW EXECUTE FUNCTION remittance_parent_kept()",
    "CREATE TRIGGER member_kept_for_remittances BEFORE DELETE OR UPDATE OF organisation_id, id "
    "ON member FOR EACH ROW EXECUTE FUNCTION remittance_parent_kept()",
    "CREATE TRIGGER remittance_acknowledgement_kept BEFORE DELETE OR UPDATE OF organisation_id, "
    "id ON remittance_acknowledgement FOR EACH ROW EXECUTE FUNCTION remittance_parent_kept()",
]

_SQLITE_PARENT_KEPT = {
    "remittance_batch": "EXISTS (SELECT 1 FROM remittance_line WHERE organisation_id = "
    "OLD.organisation_id AND batch_id = OLD.id) OR EXISTS (SELECT 1 FROM remittance_share "
    "WHERE organisation_id = OLD.organisation_id AND batch_id = OLD.id)",
    "member": "EXISTS (SELECT 1 FROM remittance_line WHERE organisation_id = "
    "OLD.organisation_id AND member_id = OLD.id)",
    "remittance_acknowledgement": "EXISTS (SELECT 1 FROM remittance_line WHERE "
    "organisation_id = OLD.organisation_id AND acknowledgement_id = OLD.id)",
}

_SQLITE = [
    """
    CREATE TRIGGER remittance_share_references BEFORE INSERT ON remittance_share
    BEGIN
      SELECT RAISE(ABORT, 'remittance_share: batch_id is not a remittance batch of its organisation')
      WHERE NOT EXISTS (SELECT 1 FROM remittance_batch
                        WHERE organisation_id = NEW.organisation_id AND id = NEW.batch_id);
      SELECT RAISE(ABORT, 'remittance_share: share_id is not a contribution share of its organisation')
      WHERE NOT EXISTS (SELECT 1 FROM contribution_share
                        WHERE organisation_id = NEW.organisation_id AND id = NEW.share_id);
    END
    """,
    """
    CREATE TRIGGER remittance_line_references BEFORE INSERT ON remittance_line
    BEGIN
      SELECT RAISE(ABORT, 'remittance_line: batch_id is not a remittance batch of its organisation')
      WHERE NOT EXISTS (SELECT 1 FROM remittance_batch
                        WHERE organisation_id = NEW.organisation_id AND id = NEW.batch_id);
      SELECT RAISE(ABORT, 'remittance_line: member_id is not a member of its organisation')
      WHERE NOT EXISTS (SELECT 1 FROM member
                        WHERE organisation_id = NEW.organisation_id AND id = NEW.member_id);
      SELECT RAISE(ABORT, 'remittance_line: acknowledgement_id is not an acknowledgement of its organisation')
      WHERE NEW.acknowledgement_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM remittance_acknowledgement
        WHERE organisation_id = NEW.organisation_id AND id = NEW.acknowledgement_id);
    END
    """,
    """
    CREATE TRIGGER remittance_line_references_on_update BEFORE UPDATE OF acknowledgement_id
    ON remittance_line WHEN NEW.acknowledgement_id IS NOT NULL
    BEGIN
      SELECT RAISE(ABORT, 'remittance_line: acknowledgement_id is not an acknowledgement of its organisation')
      WHERE NOT EXISTS (
        SELECT 1 FROM remittance_acknowledgement
        WHERE organisation_id = NEW.organisation_id AND id = NEW.acknowledgement_id);
    END
    """,
    "CREATE TRIGGER remittance_share_keys_fixed BEFORE UPDATE ON remittance_share WHEN "
    "OLD.organisation_id IS NOT NEW.organisation_id OR OLD.batch_id IS NOT NEW.batch_id OR "
    "OLD.share_id IS NOT NEW.share_id BEGIN SELECT RAISE(ABORT, 'a remittance link''s batch "
    "and share never change'); END",
    "CREATE TRIGGER remittance_line_keys_fixed BEFORE UPDATE ON remittance_line WHEN "
    "OLD.organisation_id IS NOT NEW.organisation_id OR OLD.batch_id IS NOT NEW.batch_id OR "
    "OLD.member_id IS NOT NEW.member_id BEGIN SELECT RAISE(ABORT, 'a remittance line''s batch "
    "and member never change'); END",
    "CREATE TRIGGER contribution_share_kept BEFORE DELETE ON contribution_share BEGIN SELECT "
    "RAISE(ABORT, 'a contribution share is never deleted (a reversal adds a negative share)'); END",
    "CREATE TRIGGER contribution_share_key_fixed BEFORE UPDATE ON contribution_share WHEN "
    "OLD.organisation_id IS NOT NEW.organisation_id OR OLD.id IS NOT NEW.id BEGIN SELECT "
    "RAISE(ABORT, 'a contribution share''s key never changes'); END",
    *(
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} {when}BEGIN SELECT RAISE(ABORT, "
        f"'{table} is named by remittance lines or links: it stays') WHERE {condition}; END"
        for table, condition in _SQLITE_PARENT_KEPT.items()
        for name, event, when in (
            (f"{table}_kept_for_remittances", "DELETE", ""),
            (
                f"{table}_key_kept_for_remittances",
                "UPDATE",
                "WHEN OLD.organisation_id IS NOT NEW.organisation_id OR OLD.id IS NOT NEW.id ",
            ),
        )
    ),
]

_PG_TRIGGERS = {
    "remittance_share": ("remittance_share_references", "remittance_share_keys_fixed"),
    "remittance_line": (
        "remittance_line_references",
        "remittance_line_references_on_update",
        "remittance_line_keys_fixed",
    ),
    "contribution_share": ("contribution_share_kept", "contribution_share_key_fixed"),
    "remittance_batch": ("remittance_batch_kept",),
    "member": ("member_kept_for_remittances",),
    "remittance_acknowledgement": ("remittance_acknowledgement_kept",),
}
_PG_FUNCTIONS = (
    "remittance_share_check_references",
    "remittance_line_check_references",
    "remittance_refuse_change",
    "remittance_parent_kept",
)
_SQLITE_TRIGGERS = (
    "remittance_share_references",
    "remittance_line_references",
    "remittance_line_references_on_update",
    "remittance_share_keys_fixed",
    "remittance_line_keys_fixed",
    "contribution_share_kept",
    "contribution_share_key_fixed",
    *(
        f"{table}_{kind}_for_remittances"
        for table in _SQLITE_PARENT_KEPT
        for kind in ("kept", "key_kept")
    ),
)


def _foreign_key_names(table: str, referred: str, columns: list[str]) -> list[str]:
    inspector = sa.inspect(op.get_bind())
    return [
        fk["name"]
        for fk in inspector.get_foreign_keys(table)
        if fk["referred_table"] == referred
        and fk["constrained_columns"] == ["organisation_id", *columns]
        and fk["name"]
    ]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in ("remittance_share", "remittance_line"):
        names = [
            n for t, cols, ref in _KEYS if t == table for n in _foreign_key_names(t, ref, cols)
        ]
        with op.batch_alter_table(table) as batch_op:
            for name in names:
                batch_op.drop_constraint(name, type_="foreignkey")
    for statement in _PG if pg else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        for table, triggers in _PG_TRIGGERS.items():
            for trigger in triggers:
                op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table, columns, referred in _KEYS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_organisation_id_{columns[0]}_{referred}"),
                referred,
                ["organisation_id", *columns],
                ["organisation_id", "id"],
            )
