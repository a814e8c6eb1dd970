"""Developer tools: the demo, the benchmarks and the local harnesses (real
Keystone, nova-api, Neutron, etcd, PostgreSQL, MariaDB on loopback).

Not shipped. Imported as ``tools.<module>`` with the repository root on
``sys.path`` (pytest's ``pythonpath`` setting; ``python -m tools.demo`` from
the root)."""
