"""Tools that are not tests: `python -m tools.bench` (`make bench`) and
`python -m tools.chaos.run` (`make chaos`). They reuse the test suite's
helpers (tests/) but are never collected by pytest."""
