"""``python -m scaling.laws``: see :mod:`scaling.laws.cli`."""

from scaling.laws.cli import main

raise SystemExit(main())
