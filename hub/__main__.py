"""``python -m hub``: the hub's command line (:mod:`hub.cli`)."""

import sys

from hub.cli import main

if __name__ == "__main__":
    sys.exit(main())
