"""Shared CLI plumbing: bad input becomes one sentence on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from search_spaces.errors import UserInputError

__all__ = ["EXIT_USAGE", "run"]

#: Exit code for bad input (same as argparse's usage errors).
EXIT_USAGE = 2


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None, prog: str = "") -> int:
    """Call ``main(argv)``, turning :class:`UserInputError` into ``prog: error: <sentence>`` and exit 2.

    argparse's own exits (``--help``: 0, a usage error: 2, already printed) become return codes.
    Other exceptions are bugs and keep their traceback. Ctrl-C exits with 130 quietly.
    """
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    except UserInputError as err:
        print(f"{prog}: error: {err}" if prog else f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted" if prog else "interrupted", file=sys.stderr)
        return 130
