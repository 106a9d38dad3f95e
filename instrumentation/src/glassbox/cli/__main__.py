"""``python -m glassbox.cli ...``: the same command as ``glassbox ...``."""

import sys

from glassbox.cli.main import main

sys.exit(main())
