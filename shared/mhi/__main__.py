"""`python -m mhi`: the same command line as the `mhi` console script."""

from __future__ import annotations

import sys

from mhi.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
