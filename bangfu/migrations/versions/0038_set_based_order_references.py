"""set-based reference checks for orders and order lines (PostgreSQL)

Most of what the sync writes is orders and their lines, and their foreign keys were checked row
by row: every new order ran a query for its shop, every new line one for its order and one for
its shop (and one for its SKU where it has one), each an index probe and a ``FOR KEY SHARE``
lock, each through the executor and SPI. Dropping them measured 57.5 against 85 µs of
PostgreSQL's CPU per stored order (docs/connectors.md, "Storing a batch").

On PostgreSQL these foreign keys become, as the ledger's did in 0006:

- one statement-level ``AFTER INSERT`` trigger per table, over the statement's new rows (a
  transition table, so ``COPY`` and ``INSERT ... ON CONFLICT`` are covered): for each reference,
  the distinct parents the statement names are locked ``FOR KEY SHARE`` as a foreign key's check
  locks them (one lock per distinct parent instead of one per row), and a parent that does not
  exist is refused with a foreign key's error (SQLSTATE 23503, its message, the table, column and
  constraint name);
- a row-level ``AFTER UPDATE OF <references>`` trigger whose ``WHEN`` lets through only rows
  whose reference changed (PostgreSQL refuses transition tables on a trigger with a column list;
  the ``WHEN`` is evaluated as the row is written, so an upsert that rewrites a line with the same
  order and SKU queues nothing, as a foreign key skips an unchanged key);
- on each parent (shops, purchasing units, orders, SKUs), ``ON DELETE NO ACTION`` and ``ON UPDATE
  NO ACTION`` as the foreign keys declared them: at the end of a statement that deleted a parent
  (statement-level, over its old rows) or changed its id (row-level, ``WHEN`` the id changed),
  a key still referenced and not present again is refused, with a foreign key's error.

The checks run in a volatile function, each query with a fresh snapshot (READ COMMITTED, as the
hub runs): a delete that waited for a writer's ``FOR KEY SHARE`` lock sees the writer's committed
rows. Each parent is still referenced by other foreign keys, so ``TRUNCATE`` of it stays refused.
What is not reproduced: a parent deleted in a REPEATABLE READ transaction while a child naming
it commits concurrently (a foreign key re-checks with a newer snapshot there); nothing in the hub
deletes these parents.

``order_lines.listing_id`` keeps its foreign key: nothing writes it. SQLite keeps its foreign keys
(its enforcement is row by row anyway). The models keep the ``ForeignKey``s for the ORM; the
schema comparison leaves these out on PostgreSQL (``bangfu.models.TRIGGER_CHECKED_REFERENCES``).

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Reference(NamedTuple):
    child: str
    column: str
    parent: str

    @property
    def constraint(self) -> str:
        return f"fk_{self.child}_{self.column}_{self.parent}"


# The parents' key is ``id`` everywhere; every child column has an index (the parent side's probe).
REFERENCES = (
    Reference("orders", "shop_id", "shops"),
    Reference("orders", "purchasing_unit_id", "purchasing_units"),
    Reference("order_lines", "order_id", "orders"),
    Reference("order_lines", "shop_id", "shops"),
    Reference("order_lines", "sku_id", "skus"),
)
CHILDREN = ("orders", "order_lines")
PARENTS = ("shops", "purchasing_units", "orders", "skus")


def _missing(ref: Reference, key: str) -> str:
    """Raise a foreign key's error for a child naming ``key`` (a plpgsql expression)."""
    return (
        f'RAISE EXCEPTION \'insert or update on table "{ref.child}" violates foreign key constraint'
        f" \"{ref.constraint}\"' USING ERRCODE = 'foreign_key_violation',"
        f" DETAIL = format('Key ({ref.column})=(%s) is not present in table \"{ref.parent}\".', {key}),"
        f" TABLE = '{ref.child}', COLUMN = '{ref.column}', CONSTRAINT = '{ref.constraint}';"
    )


def _inserted_check(ref: Reference) -> str:
    """The distinct parents of the new rows, locked; fewer locked than named means one is missing."""
    return f"""
        keys := ARRAY(SELECT DISTINCT n.{ref.column} FROM new_rows n WHERE n.{ref.column} IS NOT NULL);
        IF cardinality(keys) > 0 THEN
            PERFORM 1 FROM {ref.parent} p WHERE p.id = ANY (keys) FOR KEY SHARE OF p;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < cardinality(keys) THEN
                SELECT k INTO bad FROM unnest(keys) k
                 WHERE NOT EXISTS (SELECT 1 FROM {ref.parent} p WHERE p.id = k) LIMIT 1;
                {_missing(ref, "bad")}
            END IF;
        END IF;"""


def _changed_check(ref: Reference) -> str:
    return f"""
        IF NEW.{ref.column} IS DISTINCT FROM OLD.{ref.column} AND NEW.{ref.column} IS NOT NULL THEN
            PERFORM 1 FROM {ref.parent} p WHERE p.id = NEW.{ref.column} FOR KEY SHARE OF p;
            IF NOT FOUND THEN
                {_missing(ref, f"NEW.{ref.column}")}
            END IF;
        END IF;"""


def _referenced_check(ref: Reference) -> str:
    """A key gone from the parent (deleted or renumbered) that a child still names, and that no
    parent row has again: NO ACTION's rule, at the end of the statement."""
    return f"""
        SELECT k INTO bad FROM unnest(keys) k
         WHERE EXISTS (SELECT 1 FROM {ref.child} c WHERE c.{ref.column} = k)
           AND NOT EXISTS (SELECT 1 FROM {ref.parent} p WHERE p.id = k) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'update or delete on table "{ref.parent}" violates foreign key constraint'
                ' "{ref.constraint}" on table "{ref.child}"' USING ERRCODE = 'foreign_key_violation',
                DETAIL = format('Key (id)=(%s) is still referenced from table "{ref.child}".', bad),
                TABLE = '{ref.child}', COLUMN = '{ref.column}', CONSTRAINT = '{ref.constraint}';
        END IF;"""


def _function(name: str, declare: str, body: str) -> str:
    return f"""
    CREATE FUNCTION bangfu_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        {declare}
    BEGIN{body}
        RETURN NULL;
    END $$
    """


def _pg_up() -> list[str]:
    statements = [f"ALTER TABLE {ref.child} DROP CONSTRAINT {ref.constraint}" for ref in REFERENCES]
    for child in CHILDREN:
        refs = [ref for ref in REFERENCES if ref.child == child]
        columns = ", ".join(ref.column for ref in refs)
        changed = " OR ".join(f"OLD.{ref.column} IS DISTINCT FROM NEW.{ref.column}" for ref in refs)
        statements += [
            _function(
                f"{child}_references_inserted",
                "keys bigint[]; found bigint; bad bigint;",
                "".join(_inserted_check(ref) for ref in refs),
            ),
            _function(f"{child}_references_changed", "", "".join(_changed_check(ref) for ref in refs)),
            f"CREATE TRIGGER {child}_references_inserted AFTER INSERT ON {child}"
            f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION bangfu_{child}_references_inserted()",
            f"CREATE TRIGGER {child}_references_changed AFTER UPDATE OF {columns} ON {child}"
            f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION bangfu_{child}_references_changed()",
        ]
    for parent in PARENTS:
        refs = [ref for ref in REFERENCES if ref.parent == parent]
        body = """
        IF TG_LEVEL = 'ROW' THEN
            keys := ARRAY[OLD.id];
        ELSE
            keys := ARRAY(SELECT o.id FROM old_rows o);
        END IF;""" + "".join(_referenced_check(ref) for ref in refs)
        statements += [
            _function(f"{parent}_kept_referenced", "keys bigint[]; bad bigint;", body),
            f"CREATE TRIGGER {parent}_deleted_referenced AFTER DELETE ON {parent}"
            f" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION bangfu_{parent}_kept_referenced()",
            f"CREATE TRIGGER {parent}_renumbered_referenced AFTER UPDATE OF id ON {parent}"
            f" FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION bangfu_{parent}_kept_referenced()",
        ]
    return statements


def _pg_down() -> list[str]:
    statements: list[str] = []
    for parent in PARENTS:
        statements += [
            f"DROP TRIGGER {parent}_deleted_referenced ON {parent}",
            f"DROP TRIGGER {parent}_renumbered_referenced ON {parent}",
            f"DROP FUNCTION bangfu_{parent}_kept_referenced()",
        ]
    for child in CHILDREN:
        statements += [
            f"DROP TRIGGER {child}_references_inserted ON {child}",
            f"DROP TRIGGER {child}_references_changed ON {child}",
            f"DROP FUNCTION bangfu_{child}_references_inserted()",
            f"DROP FUNCTION bangfu_{child}_references_changed()",
        ]
    statements += [
        f"ALTER TABLE {ref.child} ADD CONSTRAINT {ref.constraint}"
        f" FOREIGN KEY ({ref.column}) REFERENCES {ref.parent} (id)"
        for ref in REFERENCES
    ]
    return statements


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps its foreign keys
    for statement in _pg_up():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _pg_down():
        op.execute(statement)
