"""Order planting (订单种植): sell-through by product, season and channel, a demand forecast per
product for the next season, a suggested supply plan per cooperative, and purchase contracts.

- :mod:`bangfu.planting.seasons`: a season is a calendar quarter in the programmes' local time.
- :mod:`bangfu.planting.forecast`: the forecast of one product's quarterly series (statsmodels
  ETS, or a simpler model for short series), with 80% and 95% prediction intervals.
- :mod:`bangfu.planting.split`: the forecast split over cooperatives by their share of past
  supply, capped by their capacity, in whole units (largest remainder).
- :mod:`bangfu.planting.history`: ``bangfu planting history import FILE``.
- :mod:`bangfu.planting.contracts`: accepting a plan as a purchase contract.

docs/planting.md states the method, the rules and how to read the interval.
"""
