"""The field technician's tools: a box's broker credentials and the broker's ACL (``python -m provisioning``).

Errors: every failure is a :class:`ProvisioningError` with a stable ``code``, which is also the command's
exit status (see :mod:`provisioning.errors`).
"""

from provisioning.errors import BoxExists, BoxUnknown, BrokerFileError, ProvisioningError

__all__ = ["BoxExists", "BoxUnknown", "BrokerFileError", "ProvisioningError"]
