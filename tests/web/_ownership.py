"""Who owns what in the demo world, worked out in plain SQL from the tables.

Deliberately independent of ``bangfu.scope`` and ``bangfu.queries``: the isolation matrix
compares what every route answers with what these queries say, so a mistake in the scope module
cannot hide in both. For each role and each kind of object there are keys (tuples of ids, as the
route's parameters name them) that are certainly the role's own, and keys that are certainly not
(an object on the edge of a rule, say a line selling a cooperative's product that drew on no lot
of it, is in neither list, so the matrix never guesses).

| kind         | key                      | own for                                                    |
|--------------|--------------------------|------------------------------------------------------------|
| session      | (live_sessions.id,)      | host: host_id; operator: user_shops (none: all shops);     |
|              |                          | county: the session's shop in the region tree              |
| session_pair | (a, b)                   | both sessions own                                          |
| cooperative  | (cooperatives.id,)       | coop: its own; county: supplier in region tree             |
| supplier     | (suppliers.id,)          | coop: its own supplier; county: supplier in region tree    |
| household    | (households.id,)         | its cooperative is own                                     |
| journal      | (journals.id,)           | posts to a ledger account of an own household              |
| order_line   | (order_lines.id,)        | drew on a supply lot of an own cooperative                 |

(For journals and order lines "own" is the narrow, certain rule even for the admin: a journal of
a company supplier's sale, which posts to no cooperative or household account, is in neither
list.)
| policy       | (cooperative_id, version)| the cooperative is own                                     |
| unit         | (purchasing_units.id,)   | unit: its own; county: region in region tree               |
| shop         | (shops.id,)              | operator: user_shops (none: all shops); no other role runs |
|              |                          | shops (the county sees their sales, never runs them)       |
| sku          | (skus.id,)               | admin: every SKU; operator: SKUs a shop they run lists     |
|              |                          | (listings.sku_id); no other role                           |
| lot_sku      | (skus.id,)               | SKUs one may add a supply lot for: admin every SKU;        |
|              |                          | operator: a shop they run sold it (order_lines.sku_id);    |
|              |                          | coop: its product (products.supplier_id = its supplier)    |
| lot          | (supply_lots.id,)        | its SKU is an own lot_sku                                  |
| lot_label    | (supply_lots.id,)        | an own lot, for the admin and operators only (labels)      |
| recon_exception | (reconciliation_exceptions.id,) | its shop is own, as for shop                        |
| enterprise   | (suppliers.id,) of kind enterprise | admin: all; county: its county in the region tree; |
|              |                          | no other role (enterprises have no login)                  |
| agreement    | (agreements.id,)         | its unit is own (as for unit) or its supplier is own       |
|              |                          | (coop: its supplier; county: supplier in region tree)      |

The admin owns everything else. The region tree is the user's region and every region below it
(``regions.parent_id``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

Key = tuple[int, ...]
KINDS = (
    "session", "session_pair", "cooperative", "household", "journal", "order_line", "policy", "unit", "shop", "sku",
    "lot_sku", "lot", "lot_label",
    "recon_exception", "delivery_batch", "enterprise", "task", "supplier", "agreement",
)  # fmt: skip


@dataclass
class Holdings:
    """One login's certainly-own and certainly-foreign keys per kind, each sorted."""

    role: str  # the login name (admin, operator, host, coop, county, unit)
    own: dict[str, list[Key]] = field(default_factory=dict)
    foreign: dict[str, list[Key]] = field(default_factory=dict)


async def _rows(conn: AsyncConnection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


async def _ids(conn: AsyncConnection, sql: str, **params: Any) -> set[int]:
    return {int(r[0]) for r in await _rows(conn, sql, **params) if r[0] is not None}


async def region_tree(conn: AsyncConnection, region_id: int) -> set[int]:
    sql = """
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM regions WHERE id = :region
            UNION
            SELECT r.id FROM regions r JOIN tree t ON r.parent_id = t.id
        )
        SELECT id FROM tree
    """
    return await _ids(conn, sql, region=region_id)


def _split(
    all_keys: AbstractSet[Key], own: AbstractSet[Key], not_foreign: AbstractSet[Key] = frozenset()
) -> tuple[list[Key], list[Key]]:
    return sorted(own), sorted(all_keys - own - not_foreign)


async def holdings(conn: AsyncConnection, name: str) -> Holdings:
    """What the user ``name`` owns, by the rules in the module docstring."""
    user = (
        await _rows(
            conn,
            "SELECT id, role, cooperative_id, host_id, region_id, unit_id FROM users WHERE name = :name",
            name=name,
        )
    )[0]
    user_id, role, coop_id, host_id, region_id, unit_id = user
    admin = role == "admin"
    tree = await region_tree(conn, int(region_id)) if role == "county" and region_id is not None else set()
    out = Holdings(name)

    # Cooperatives, by their supplier's county.
    coop_county = {
        int(c): int(k)
        for c, k in await _rows(
            conn, "SELECT c.id, s.county_id FROM cooperatives c JOIN suppliers s ON s.id = c.supplier_id"
        )
    }
    own_coops = {c for c, k in coop_county.items() if admin or c == coop_id or k in tree}
    supplier_rows = await _rows(
        conn, "SELECT s.id, s.county_id, c.id FROM suppliers s LEFT JOIN cooperatives c ON c.supplier_id = s.id"
    )
    own_suppliers = {
        int(s) for s, k, c in supplier_rows if admin or (c is not None and int(c) in own_coops) or k in tree
    }
    out.own["cooperative"], out.foreign["cooperative"] = _split({(c,) for c in coop_county}, {(c,) for c in own_coops})
    out.own["supplier"], out.foreign["supplier"] = _split(
        {(int(s),) for s, _k, _c in supplier_rows}, {(s,) for s in own_suppliers}
    )

    # Enterprises (suppliers of kind enterprise; no login of their own): the county office's.
    enterprises = await _rows(conn, "SELECT id, county_id FROM suppliers WHERE kind = 'enterprise'")
    out.own["enterprise"], out.foreign["enterprise"] = _split(
        {(int(s),) for s, _ in enterprises},
        {(int(s),) for s, k in enterprises if admin or (role == "county" and int(k) in tree)},
    )

    # Households of those cooperatives.
    household_coop = {int(h): int(c) for h, c in await _rows(conn, "SELECT id, cooperative_id FROM households")}
    own_households = {h for h, c in household_coop.items() if c in own_coops}
    out.own["household"], out.foreign["household"] = _split(
        {(h,) for h in household_coop}, {(h,) for h in own_households}
    )

    # Policies: (cooperative, version).
    policies = {(int(c), int(v)) for c, v in await _rows(conn, "SELECT cooperative_id, version FROM split_policies")}
    out.own["policy"], out.foreign["policy"] = _split(policies, {p for p in policies if p[0] in own_coops})

    # Journals, by the owners of the accounts they post to.
    touches: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for journal_id, owner_type, owner_id in await _rows(
        conn,
        "SELECT DISTINCT p.journal_id, a.owner_type, a.owner_id FROM postings p "
        "JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE a.owner_type IN ('household', 'cooperative', 'supplier')",
    ):
        touches[int(journal_id)].add((str(owner_type), int(owner_id)))
    journals = await _ids(conn, "SELECT id FROM journals")

    def journal_is_own(j: int) -> bool:
        return any(t == "household" and o in own_households for t, o in touches[j])

    def journal_is_foreign(j: int) -> bool:
        owners = touches[j]
        if admin or not owners:
            return False
        near = {("household", h) for h in own_households} | {("cooperative", c) for c in own_coops}
        near |= {("supplier", s) for s in own_suppliers}
        return not owners & near and any(t in ("household", "cooperative") for t, _ in owners)

    out.own["journal"] = sorted((j,) for j in journals if journal_is_own(j))
    out.foreign["journal"] = sorted((j,) for j in journals if journal_is_foreign(j))

    # Order lines: the cooperatives whose lots they drew on, whose households delivered those
    # lots, or whose product they sell; and the county of the product's supplier.
    related: dict[int, set[int]] = defaultdict(set)
    lot_coops: dict[int, set[int]] = defaultdict(set)
    for line_id, c in await _rows(
        conn,
        "SELECT DISTINCT la.order_line_id, sl.cooperative_id FROM lot_allocations la "
        "JOIN supply_lots sl ON sl.id = la.lot_id WHERE sl.cooperative_id IS NOT NULL",
    ):
        lot_coops[int(line_id)].add(int(c))
        related[int(line_id)].add(int(c))
    for line_id, c in await _rows(
        conn,
        "SELECT DISTINCT la.order_line_id, h.cooperative_id FROM lot_allocations la "
        "JOIN lot_contributions lc ON lc.lot_id = la.lot_id JOIN households h ON h.id = lc.household_id",
    ):
        related[int(line_id)].add(int(c))
    product_supplier: dict[int, int] = {}
    for line_id, supplier_id, c in await _rows(
        conn,
        "SELECT ol.id, p.supplier_id, c.id FROM order_lines ol JOIN skus k ON k.id = ol.sku_id "
        "JOIN products p ON p.id = k.product_id LEFT JOIN cooperatives c ON c.supplier_id = p.supplier_id",
    ):
        product_supplier[int(line_id)] = int(supplier_id)
        if c is not None:
            related[int(line_id)].add(int(c))
    lines = await _ids(conn, "SELECT id FROM order_lines")
    out.own["order_line"] = sorted((ln,) for ln in lines if lot_coops[ln] & own_coops)
    out.foreign["order_line"] = sorted(
        (ln,)
        for ln in lines
        if not admin and related[ln] and not related[ln] & own_coops and product_supplier.get(ln) not in own_suppliers
    )

    # Live sessions: the host's own; an operator's shops; a county's shops.
    operator_shops = await _ids(conn, "SELECT shop_id FROM user_shops WHERE user_id = :u", u=user_id)
    sessions = await _rows(
        conn,
        "SELECT ls.id, ls.host_id, ls.shop_id, sh.county_id FROM live_sessions ls JOIN shops sh ON sh.id = ls.shop_id",
    )

    def session_is_own(host: Any, shop: Any, county: Any) -> bool:
        match role:
            case "admin":
                return True
            case "host":
                return host is not None and int(host) == host_id
            case "operator":
                return not operator_shops or int(shop) in operator_shops
            case "county":
                return county is not None and int(county) in tree
        return False

    own_sessions = {int(s) for s, h, sh, k in sessions if session_is_own(h, sh, k)}
    unknown_county = {(int(s),) for s, _, _, k in sessions if role == "county" and k is None}
    out.own["session"], out.foreign["session"] = _split(
        {(int(s),) for s, *_ in sessions}, {(s,) for s in own_sessions}, unknown_county
    )
    own_list = [s for (s,) in out.own["session"]]
    foreign_list = [s for (s,) in out.foreign["session"]]
    out.own["session_pair"] = [(own_list[0], own_list[min(1, len(own_list) - 1)])] if own_list else []
    out.foreign["session_pair"] = (
        [(foreign_list[0], foreign_list[min(1, len(foreign_list) - 1)])] if foreign_list else []
    )

    # Purchasing units, by region.
    units = await _rows(conn, "SELECT id, region_id FROM purchasing_units")
    own_units = {(int(u),) for u, r in units if admin or u == unit_id or (r is not None and int(r) in tree)}
    no_region = {(int(u),) for u, r in units if role == "county" and r is None}
    out.own["unit"], out.foreign["unit"] = _split({(int(u),) for u, _ in units}, own_units, no_region)

    # Shops an operator runs (the operator console).
    shops = {(s,) for s in await _ids(conn, "SELECT id FROM shops")}
    run_shops = shops if admin or (role == "operator" and not operator_shops) else set()
    if role == "operator" and operator_shops:
        run_shops = {(s,) for s in operator_shops}
    out.own["shop"], out.foreign["shop"] = _split(shops, run_shops)

    # SKUs on the stock pages: those a shop the operator runs lists; every SKU for the admin.
    skus = {(s,) for s in await _ids(conn, "SELECT id FROM skus")}
    listed = await _rows(conn, "SELECT DISTINCT sku_id, shop_id FROM listings WHERE sku_id IS NOT NULL")
    own_skus = skus if admin else {(int(k),) for k, s in listed if (int(s),) in run_shops}
    out.own["sku"], out.foreign["sku"] = _split(skus, own_skus)

    # Reconciliation exceptions, through their shop (the operator console).
    exceptions = await _rows(conn, "SELECT id, shop_id FROM reconciliation_exceptions")
    out.own["recon_exception"], out.foreign["recon_exception"] = _split(
        {(int(e),) for e, _ in exceptions}, {(int(e),) for e, s in exceptions if (int(s),) in run_shops}
    )

    # SKUs one may add a supply lot for, and the lots (each goes with its SKU).
    sold = await _rows(conn, "SELECT DISTINCT sku_id, shop_id FROM order_lines WHERE sku_id IS NOT NULL")
    sku_supplier = await _rows(conn, "SELECT k.id, p.supplier_id FROM skus k JOIN products p ON p.id = k.product_id")
    coop_supplier = await _ids(conn, "SELECT supplier_id FROM cooperatives WHERE id = :c", c=coop_id or 0)
    if admin:
        own_lot_skus = skus
    elif role == "operator":
        own_lot_skus = {(int(k),) for k, s in sold if (int(s),) in run_shops}
    else:
        own_lot_skus = {(int(k),) for k, p in sku_supplier if int(p) in coop_supplier}
    out.own["lot_sku"], out.foreign["lot_sku"] = _split(skus, own_lot_skus)
    lots = await _rows(conn, "SELECT id, sku_id FROM supply_lots")
    out.own["lot"], out.foreign["lot"] = _split(
        {(int(lot),) for lot, _ in lots}, {(int(lot),) for lot, k in lots if (int(k),) in own_lot_skus}
    )
    labels = set(out.own["lot"]) if admin or role == "operator" else set()
    out.own["lot_label"], out.foreign["lot_label"] = _split({(int(lot),) for lot, _ in lots}, labels)
    # Delivery batches: a unit's own; the operator's through the shops of their orders.
    batch_rows = await _rows(
        conn,
        "SELECT b.id, b.unit_id, o.shop_id FROM delivery_batches b "
        "LEFT JOIN delivery_batch_orders x ON x.batch_id = b.id LEFT JOIN orders o ON o.id = x.order_id",
    )
    own_batches = {
        (int(b),)
        for b, u, s in batch_rows
        if admin
        or (role == "unit" and unit_id is not None and int(u) == int(unit_id))
        or (role == "operator" and s is not None and (int(s),) in run_shops)
    }
    out.own["delivery_batch"], out.foreign["delivery_batch"] = _split(
        {(int(b),) for b, _, _ in batch_rows}, own_batches
    )
    # Task ledger tasks: the county office's, by their region; every task for the admin.
    task_rows = await _rows(conn, "SELECT id, region_id FROM ledger_tasks")
    out.own["task"], out.foreign["task"] = _split(
        {(int(k),) for k, _ in task_rows}, {(int(k),) for k, r in task_rows if admin or int(r) in tree}
    )
    # Procurement agreements: through their unit or their supplier.
    agreements = await _rows(conn, "SELECT id, unit_id, supplier_id FROM agreements")
    own_agreements = {
        (int(a),)
        for a, u, s in agreements
        if admin
        or (role in ("unit", "county") and (int(u),) in own_units)
        or (role in ("coop", "cooperative", "county") and int(s) in own_suppliers)
    }
    out.own["agreement"], out.foreign["agreement"] = _split({(int(a),) for a, _, _ in agreements}, own_agreements)
    return out
