"""``python -m nas.search``: see :mod:`nas.search.cli`."""

from nas.search.cli import main

raise SystemExit(main())
