"""What can go wrong while provisioning, in one hierarchy.

::

    ProvisioningError              root; ``code`` is the CLI's exit status
    ├── BoxExists (FileExistsError)      3: the box already has broker credentials (rotate them instead)
    ├── BoxUnknown (LookupError)         4: the box has no broker credentials to remove or rotate
    └── BrokerFileError (OSError)        5: a broker file could not be read, parsed or written

Exit status 2 is a usage error (argparse's own), 1 is never used on purpose.
"""

from __future__ import annotations


class ProvisioningError(Exception):
    """A provisioning step failed; the message says what and how to fix it."""

    code = 1


class BoxExists(ProvisioningError, FileExistsError):
    """The box is already in the broker's password file."""

    code = 3


class BoxUnknown(ProvisioningError, LookupError):
    """The box is not in the broker's password file."""

    code = 4


class BrokerFileError(ProvisioningError, OSError):
    """A broker file (password file, ACL, credentials) could not be read, understood or written."""

    code = 5
