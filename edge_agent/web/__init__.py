"""The counter application's mobile web UI (mPOS), served by the edge agent on the shop's LAN.

:func:`create_app` builds it from the box's services (:class:`WebServices`) and :class:`WebAppSettings`;
:func:`create_cashier` adds a cashier who signs in with a PIN.
"""

from edge_agent.web.app import WebAppSettings, create_app
from edge_agent.web.auth import create_cashier
from edge_agent.web.services import WebServices

__all__ = ["WebAppSettings", "WebServices", "create_app", "create_cashier"]
