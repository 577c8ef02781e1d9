"""Gateway overhead benchmarks: ``make bench`` (``python -m bench.run``).

Every path talks to the same fake upstream (``tests.fake_upstream``); the gateway runs as a
real ``agent-gateway serve`` subprocess. Results go to ``docs/benchmarks.md``.
"""
