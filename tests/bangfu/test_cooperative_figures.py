"""The cooperative dashboard's Figures: built from a row's money columns by position and added
field by field (bangfu.queries.cooperatives), with no field left out."""

from __future__ import annotations

from dataclasses import fields

import pytest

from bangfu.queries.cooperatives import MONEY_FIELDS, Figures, _figures


def test_figures_from_money_columns_in_order_and_lines_last() -> None:
    names = [f.name for f in fields(Figures)]
    assert names == [*MONEY_FIELDS, "lines"]
    money: list[int | None] = [10 * (i + 1) for i in range(len(MONEY_FIELDS))]
    money[3] = None  # a NULL sum reads as 0
    fig = _figures(money, 7)
    expected = {name: (0 if i == 3 else 10 * (i + 1)) for i, name in enumerate(MONEY_FIELDS)}
    assert {name: getattr(fig, name) for name in MONEY_FIELDS} == expected and fig.lines == 7
    with pytest.raises(ValueError):
        _figures(money[:-1])


def test_add_adds_every_field() -> None:
    names = [f.name for f in fields(Figures)]
    first = Figures(*range(1, len(names) + 1))
    second = Figures(*(100 * i for i in range(1, len(names) + 1)))
    first.add(second)
    assert [getattr(first, n) for n in names] == [101 * i for i in range(1, len(names) + 1)]
    assert [getattr(second, n) for n in names] == [100 * i for i in range(1, len(names) + 1)]
