"""``python -m herd.testing``: the test fleet's command line (herd.testing.cli)."""

import sys

from herd.testing.cli import main

sys.exit(main())
