"""The department task ledger (消费帮扶工作调度台账, seed 002): a county's tasks with their
department, owner, measure, deadline and target, and each task's progress history.

- :mod:`bangfu.tasks.units`: the units a target is counted in (fen, households, percent, count);
- :mod:`bangfu.tasks.metrics`: the registry of hub figures a task may be bound to;
- :mod:`bangfu.tasks.status`: pure rules: progress share, quarter-end values, done / overdue /
  at risk;
- :mod:`bangfu.tasks.progress`: appending progress (by hand, and the bound tasks' refresh);
- :mod:`bangfu.tasks.importing`: ``bangfu tasks import FILE``.
"""
