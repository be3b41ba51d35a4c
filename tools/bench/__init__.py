"""The Order Desk benchmark (`make bench`, `make bench-smoke`); see docs/benchmarks.md.

Not collected by pytest (no test_*.py files here): it is a program that
starts its own Temporal dev server, workers and web server and prints one table.
"""
