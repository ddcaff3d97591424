"""Device libraries for the counter box: one narrow interface per device kind, real drivers, simulators.

Fingerprint sensor, barcode scanner, receipt printer, display, camera, indicators and buttons. This package
knows nothing of MQTT, SQL or loyalty and imports nothing of ``core``, ``edge_agent`` or ``hub``: the edge
agent wires these devices into the counter application. Which implementation backs each device (real or
simulated) is chosen by configuration (see ``hardware.config`` and docs/hardware.md).
"""
