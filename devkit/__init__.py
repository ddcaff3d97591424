"""Mostrador's development kit: what tests, benchmarks and the demo run the product with, never the product
itself.

:mod:`devkit.services` starts private Mosquitto and PostgreSQL servers on free ports in temporary
directories, and box and hub processes against them; :mod:`devkit.demo` is ``make demo`` (a broker, the hub
and three simulated boxes, then a reconciliation). It may import every package of the project; no product
package (``core``, ``hardware``, ``edge_agent``, ``hub``, ``provisioning``) imports it, which ``make check``
enforces. It is not installed with the product: it runs from a checkout.
"""
