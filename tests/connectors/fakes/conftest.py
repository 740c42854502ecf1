"""The fakes' own tests: their client session waits longer than the connectors' tests do.

``tests/connectors/conftest.py`` cuts every request at 1.5 s, so that the fakes' ``hang`` faults
(3 s) end on the client's side. No test here injects a hang, and on a loaded machine one page of
100 JD orders once took longer than 1.5 s (``test_other_date_type_numbers_act_like_zero``, a
``TimeoutError`` that said nothing about the fake), so here ``session`` is the patient one
(``tests/connectors/conftest.py``): a request may take 30 s.
"""

from __future__ import annotations

import aiohttp
import pytest


@pytest.fixture
def session(patient_session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    return patient_session
