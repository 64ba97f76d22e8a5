"""`python -m lrface ...` is the `lrface` console script."""

import sys

from .cli import main

sys.exit(main())
