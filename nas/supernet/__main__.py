"""``python -m nas.supernet``: see :mod:`nas.supernet.cli`."""

import sys

from nas.supernet.cli import main

sys.exit(main())
