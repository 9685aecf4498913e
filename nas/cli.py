"""Shared CLI plumbing: the flags every evaluating command has, and bad input as one sentence with exit code 2."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from search_spaces.errors import ParameterError, UserInputError
from search_spaces.files import check_path

__all__ = ["EXIT_USAGE", "MAX_SEED", "Parser", "evaluation_flags", "integer", "max_parallel", "parse_args", "path", "run",
           "study_flags"]

#: Exit code for bad input (same as argparse's usage errors).
EXIT_USAGE = 2
#: Largest seed: NumPy's and NNI's generators take seeds below 2**32.
MAX_SEED = 2**32 - 1


class Parser(argparse.ArgumentParser):
    """``argparse`` whose usage errors are one line (``prog: error: argument --seed: ...``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def max_parallel() -> int:
    """Most worker processes or threads a flag accepts: four per core (more only thrash), at least 8."""
    return max(8, 4 * (os.cpu_count() or 1))


def integer(low: int, high: int | Callable[[], int]) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (a number, or a function giving it)."""
    def parse(text: str) -> int:
        top = high() if callable(high) else high
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= top:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,} to {top:,}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def path(text: str) -> Path:
    """An argparse type: a path the operating system can use (not empty, no NUL, no over-long component)."""
    try:
        return check_path(text, "the path")
    except UserInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None, prog: str = "",
        flags: Mapping[str, str] | None = None) -> int:
    """Call ``main(argv)``, turning :class:`UserInputError` into ``prog: error: <sentence>`` and exit 2.

    ``flags`` maps parameters of the library the command calls to the flags they came from:
    a :class:`ParameterError` about one of them names the flag (``--alpha must be a positive
    number``), since that is what the user typed.

    argparse's own exits (``--help``: 0, a usage error: 2, already printed) become return codes.
    Other exceptions are bugs and keep their traceback. Ctrl-C exits with 130 quietly. A reader
    of standard output that goes away (``| head``) ends the command quietly with 141, as a
    shell reports a program stopped by SIGPIPE; a standard output that cannot be written
    (``> /dev/full``) is one sentence and exit code 2.
    """
    real = sys.stdout
    sys.stdout = _GuardedStdout(real)  # type: ignore[assignment]
    try:
        code = main(argv)
        sys.stdout.flush()  # a full or closed standard output is found here, inside the handlers below
        return code
    except _StdoutFailed as failed:
        sys.stdout = real
        _silence_stdout()
        if isinstance(failed.cause, BrokenPipeError):
            return 141
        print(f"{prog}: error: cannot write the results to standard output: {failed.cause.strerror or failed.cause}",
              file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    except UserInputError as err:
        text = str(err)
        if isinstance(err, ParameterError) and flags and err.parameter in flags:
            text = f"{flags[err.parameter]} {err.problem}"
        print(f"{prog}: error: {text}" if prog else f"error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted" if prog else "interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = real


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's final flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class _StdoutFailed(Exception):
    """Writing the results to standard output failed (``cause``: the operating system's error)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _GuardedStdout:
    """Standard output whose write errors are told apart from every other ``OSError`` of a command."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            raise _StdoutFailed(err) from err

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            raise _StdoutFailed(err) from err

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def evaluation_flags(evaluator_help: str, evaluator_default: str | None = None) -> argparse.ArgumentParser:
    """The flags of every command that evaluates architectures (``nas.evaluate``, ``nas.search``, the compound grid).

    One parent parser, so the flags have the same names, defaults and help everywhere.

    Args:
        evaluator_help: What ``--evaluator`` defaults to, in words.
        evaluator_default: ``--evaluator``'s default value (``None``: decided by the command).
    """
    from nas import evaluators  # late: keeps ``--help`` of commands that never evaluate light

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("evaluation")
    g.add_argument("-e", "--evaluator", default=evaluator_default,
                   help=f"comma-separated evaluators, run in order ({', '.join(evaluators.names())}); default: "
                        f"{evaluator_help}")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of an evaluator or the strategy, repeatable (e.g. epochs=2, subset=10000); "
                        "--help-settings lists them")
    g.add_argument("--help-settings", action="store_true",
                   help="list the settings (name, type, bounds, default, help) of the chosen evaluators and "
                        "strategy, then exit")
    g.add_argument("--data", help="dataset (fashion-mnist, cifar10, cifar10:DIR) or an ImageFolder directory; "
                                  "default: Fashion-MNIST from the Debian package dataset-fashion-mnist. For the "
                                  "nb201 evaluator, the table: cifar10 (default), cifar100 or ImageNet16-120")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present; default)")
    g.add_argument("--seed", type=integer(0, MAX_SEED), default=0,
                   help="seed of weights, data order and proposals (default 0)")
    g.add_argument("--threads", type=integer(1, max_parallel),
                   help="torch CPU threads per worker (default: the cores, shared by workers)")
    return p


def study_flags(heartbeat: int) -> argparse.ArgumentParser:
    """The flags of every command that records its evaluations in an Optuna study (a search, the compound grid)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("study")
    g.add_argument("--storage", help="Optuna storage shared by workers: sqlite:///path.db, journal:path.log (many "
                                     "processes, one machine) or postgresql://user@host/db (many machines; the "
                                     "password from PGPASSWORD or ~/.pgpass); default: SQLite in the run directory. "
                                     "The same command with the same --storage on another machine joins the study")
    g.add_argument("--study-name", help="study name in the storage")
    g.add_argument("--resume", action="store_true", help="continue the existing study")
    g.add_argument("--heartbeat", type=integer(1, 86_400), default=heartbeat,
                   help=f"seconds between a running trial's heartbeats; a trial whose worker died is failed after "
                        f"twice this and run again (default {heartbeat})")
    g.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    return p


def parse_args(make_parser: Callable[[bool], argparse.ArgumentParser], argv: Sequence[str],
               settings_help: Callable[[argparse.Namespace], str]) -> argparse.Namespace | None:
    """The command's parsed flags; ``None`` after printing ``settings_help(flags)`` for ``--help-settings``.

    ``make_parser(required)`` builds the command's parser; for ``--help-settings`` it is called
    with ``False``, so the command's required flags need not be given just to list the settings.
    """
    if "--help-settings" in argv:
        print(settings_help(make_parser(False).parse_known_args(argv)[0]))
        return None
    return make_parser(True).parse_args(argv)
