"""``python -m herd.testing``: the local fleet's command line (herd.localfleet.cli) under its old name.

scripts/lib.sh and the tests run it by this name; its one-line errors start with ``herd.testing:``.
"""

import sys

from herd.localfleet.cli import main

sys.exit(main(name="herd.testing"))
