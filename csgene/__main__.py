"""``python -m csgene``: the same as the ``csgene`` command."""

import sys

from .cli import main

sys.exit(main())
