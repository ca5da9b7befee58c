"""``python -m herd.localfleet``: the local fleet's command line (herd.localfleet.cli)."""

import sys

from herd.localfleet.cli import main

sys.exit(main())
