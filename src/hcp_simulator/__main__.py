"""`python -m hcp_simulator` is the same program as the `hcp-simulator` console script."""

import sys

from hcp_simulator.cli import main

sys.exit(main())
