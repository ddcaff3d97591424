"""``python -m provisioning``: see :mod:`provisioning.cli`."""

import sys

from provisioning.cli import main

sys.exit(main())
