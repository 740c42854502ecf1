"""A pytest plugin for ``mutmut run`` only: pyproject's ``[tool.mutmut]`` loads it with
``-p tests.mutmut_profile``.

One failing example is enough to kill a mutant, so Hypothesis does not shrink it (shrinking a
failure costs many reruns, each mutant's); the examples are derandomised, so two runs over the
same tests kill the same mutants, and no deadline counts a slow mutant as killed.
"""

from __future__ import annotations

from hypothesis import Phase, settings

settings.register_profile(
    "mutmut", phases=(Phase.explicit, Phase.reuse, Phase.generate), derandomize=True, deadline=None
)
settings.load_profile("mutmut")
