"""``python -m nas.latency``: see :mod:`nas.latency.cli`."""

import sys

from nas.latency.cli import main

sys.exit(main())
