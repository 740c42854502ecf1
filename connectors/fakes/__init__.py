"""Faithful fake platform servers for tests and the demo (see docs/connectors.md).

Shared core, one concept per module:

* :mod:`connectors.fakes.clock`    ``FakeClock``: real time by default, frozen/advanced by tests;
* :mod:`connectors.fakes.world`    ``FakeWorld``: one shop's deterministic canonical data;
* :mod:`connectors.fakes.faults`   ``FaultProfile`` presets and the seeded ``FaultInjector``;
* :mod:`connectors.fakes.server`   ``FakePlatform`` base app, ``serve_all``, ``fake_server``;
* :mod:`connectors.fakes.registry` platform name -> fake class, imported lazily.
* :mod:`connectors.fakes.protocol` the platforms' signing and request timestamps, written again
  from PLATFORMS.md and shared with the test clients, never with the connectors.

Each ``connectors/fakes/<platform>.py`` subclasses ``FakePlatform`` and renders the world in
that platform's own API. Import from the modules above; this package re-exports nothing so
that importing one fake never drags in the others.
"""
