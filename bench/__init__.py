"""Benchmarks for zhaoren: ``python -m bench [parse|train|webhook|intake] [--postgres]``.

Every part prints its figures next to their targets. The server parts start the real
aiohttp server in a separate process on a free loopback port, with a temporary home and
database, and always stop it again.
"""
