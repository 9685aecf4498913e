"""YAML codec for genomes: exact round trip, safe loading only, errors that name file and field.

A genome file is a mapping with the :class:`~search_spaces.genome.Network` fields and an
optional ``meta`` mapping (search results, provenance) that is returned separately.

The written form is short: a field at its default value is left out (of the network, its
stem, head, norm and quirks, and of every stage, so a stage lists only fields its block type
reads, as the others must stay at their defaults), a stage or a part is one line, and a
whole number in a float field is written without its ``.0``::

    name: efficientnet_b0
    stem: {channels: 32}
    stages:
    - {block: ds, depth: 1, channels: 16, se: 0.25}
    - {block: mbconv, depth: 2, channels: 24, stride: 2, expand: 6, se: 0.25}
    ...

The defaults are therefore part of the file format: changing one changes what old short
files mean. Loading accepts this form and the long one that lists every field
(``to_yaml(genome, short=False)``, and every file written before the short form), and
both give the same genome.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from search_spaces.errors import GenomeError
from search_spaces.files import atomic_write_text
from search_spaces.genome import Head, Network, Norm, Quirks, Stage, Stem

#: Largest genome file read: a genome of the largest zoo model is a few KiB, a found.yaml with its meta tens.
MAX_FILE_BYTES = 4 * 2**20

__all__ = ["dump", "from_dict", "from_yaml", "genome_key", "load", "load_with_meta", "to_dict", "to_yaml"]

_PARTS: dict[str, type] = {"stem": Stem, "head": Head, "norm": Norm, "quirks": Quirks}
_META = "meta"


def to_dict(genome: Network, short: bool = False) -> dict[str, Any]:
    """Plain-data form of ``genome`` (dicts, lists, scalars), fields in declaration order.

    Args:
        genome: The network.
        short: Leave out every field equal to its default (recursively; a part whose fields
            are all at their defaults disappears), as :func:`from_dict` fills them back in.
    """
    if short:
        return _without_defaults(genome)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(genome):
        value = getattr(genome, f.name)
        if f.name == "stages":
            out[f.name] = [_plain(dataclasses.asdict(s)) for s in value]
        elif dataclasses.is_dataclass(value):
            out[f.name] = dataclasses.asdict(value)
        else:
            out[f.name] = value
    return out


def _without_defaults(value: Any) -> Any:
    """Plain data of a genome part, dataclass fields equal to their defaults omitted (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and v == f.default_factory():
                continue
            out[f.name] = _without_defaults(v)
        return out
    if isinstance(value, (tuple, list)):
        return [_without_defaults(v) for v in value]
    return value


def genome_key(genome: Network) -> str:
    """A digest of the genome's architecture (its name left out: two names, one network, one key).

    Fields at their default value are left out (:func:`to_dict` ``short``), so adding a field
    with a default to the genome vocabulary (as each new block family does) leaves every
    existing key, and so a resumed study's duplicate cache and settings check, unchanged.
    The depth multiplier is folded into the stage depths first (:meth:`Network.folded`), so
    two depth multipliers that round to the same layer counts (compound scaling's alpha 1.1
    and 1.2 on short stages) are one network and one key.
    """
    data = to_dict(genome.folded(), short=True)
    data.pop("name", None)
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Tuples become lists so YAML writes plain sequences (``from_dict`` turns them back)."""
    return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
            for k, v in data.items()}


def _build(cls: type, data: Any, where: str) -> Any:
    """Construct dataclass ``cls`` from mapping ``data``; errors are prefixed with ``where``."""
    owner = where or "the network"
    if not isinstance(data, dict):
        raise GenomeError(f"{owner} must be a mapping of fields, got {type(data).__name__}", where)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (valid: {', '.join(known)})"
            raise GenomeError(f"{owner} has unknown field {key!r}{hint}", where)
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for key in required:
        if key not in data:
            raise GenomeError(f"{owner} is missing required field {key!r}", where)
    try:
        return cls(**data)
    except GenomeError as err:
        if not where:
            raise
        raise GenomeError(f"{where}.{err}", f"{where}.{err.field}") from None


def from_dict(data: Any, source: str = "genome") -> Network:
    """Validate plain data and return the :class:`Network` it describes.

    Args:
        data: A mapping as produced by :func:`to_dict` (a ``meta`` key is ignored).
        source: What to call the input in error messages (usually the file name).

    Raises:
        GenomeError: naming ``source`` and the field, for any missing, unknown or bad field
            and for block, activation or norm names that are not registered.
    """
    from search_spaces.resolve import check_names  # late: resolve imports the block registry

    try:
        if not isinstance(data, dict):
            raise GenomeError(f"the top level must be a mapping of network fields, got {type(data).__name__}")
        fields = {k: v for k, v in data.items() if k != _META}
        parts: dict[str, Any] = {}
        for key, value in fields.items():
            if key in _PARTS:
                parts[key] = _build(_PARTS[key], value, key)
            elif key == "stages":
                if not isinstance(value, list) or not value:
                    raise GenomeError("stages must be a non-empty list of stages", "stages")
                parts[key] = tuple(_build(Stage, s, f"stages[{i}]") for i, s in enumerate(value))
            else:
                parts[key] = value
        genome = _build(Network, parts, "")
        check_names(genome)
        return genome
    except GenomeError as err:
        raise GenomeError(f"{source}: {err}", err.field) from None


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping written on one line (a stage, even one holding a cell genotype)."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """``safe_dump`` plus one-line stages; writes only standard YAML tags.

    libyaml's emitter when PyYAML has it: the same text, 5x faster (a search writes every
    trial's genome).
    """


_Dumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))


def _compact(value: Any) -> Any:
    """Plain data with every whole-number float as an int (``6.0`` -> ``6``); loading turns them back into floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def to_yaml(genome: Network, meta: dict[str, Any] | None = None, short: bool = True) -> str:
    """YAML text of ``genome`` (one stage per line), plus an optional ``meta`` mapping.

    Args:
        genome: The network.
        meta: Written under ``meta`` (search results, provenance), as given.
        short: Leave out fields at their default value and write whole-number floats as
            integers (the module docstring); ``False`` writes every field as stored.
    """
    data = _compact(to_dict(genome, short=True)) if short else to_dict(genome)
    data["stages"] = [_FlowMap(stage) for stage in data["stages"]]
    if meta:
        data[_META] = meta
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=200)


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", again)
        self.key, self.first, self.again = key, first, again


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """``safe_load`` (standard YAML tags only; libyaml's parser when PyYAML has it) refusing duplicate keys.

    PyYAML keeps the last of two equal keys without a word, so a hand edit that adds
    ``resolution: 300`` below the saved ``resolution: 224`` would silently win or lose.
    Merge keys (``<<``) may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if first is not key_node:
                raise _DuplicateKeyError(key, first.start_mark, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _at(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}" if mark is not None else ""


def _parse(text: str, source: str) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)  # safe: standard YAML tags only (see _Loader)
    except _DuplicateKeyError as err:
        first, again = err.first, err.again
        where = (f"line {again.line + 1}, columns {first.column + 1} and {again.column + 1}"
                 if first.line == again.line else f"lines {first.line + 1} and {again.line + 1}")
        raise GenomeError(f"{source}: key {err.key!r} appears twice in one mapping ({where}); keep one",
                          str(err.key)) from None
    except yaml.constructor.ConstructorError as err:
        if "could not determine a constructor" not in str(err.problem):
            raise GenomeError(f"{source}: malformed YAML{_at(err.problem_mark)}: {err.problem}") from None
        raise GenomeError(f"{source}: refused YAML tag{_at(err.problem_mark)} ({err.problem}); genome files are "
                          f"plain data and only safe YAML is loaded") from None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise GenomeError(f"{source}: malformed YAML{_at(getattr(err, 'problem_mark', None))}: {problem}") from None
    except RecursionError:
        raise GenomeError(f"{source}: malformed YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as err:  # a standard tag's value out of range: !!int x, 2001-02-30
        raise GenomeError(f"{source}: malformed YAML: a value cannot be read ({err})") from None
    if data is None:
        raise GenomeError(f"{source}: the file is empty")
    return data


def from_yaml(text: str, source: str = "genome") -> Network:
    """Parse YAML text (safe loading only: Python tags are refused) into a genome."""
    return from_dict(_parse(text, source), source)


def load_with_meta(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Load a genome file and its ``meta`` mapping (empty if absent).

    Refused before parsing: anything but a regular file (a device such as ``/dev/zero`` or a
    pipe would be read forever) and a file over :data:`MAX_FILE_BYTES`.
    """
    source = os.fspath(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise GenomeError(f"{source}: is not a regular file; a genome file is YAML text")
        if info.st_size > MAX_FILE_BYTES:
            raise GenomeError(f"{source}: is {info.st_size / 2**20:.0f} MiB; a genome file is at most "
                              f"{MAX_FILE_BYTES // 2**20} MiB (the zoo's largest is a few KiB)")
        with open(path, "rb") as handle:
            text = handle.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except FileNotFoundError:
        raise GenomeError(f"{source}: no such file") from None
    except UnicodeDecodeError as err:
        raise GenomeError(f"{source}: is not a UTF-8 text file (byte 0x{err.object[err.start]:02x} at offset "
                          f"{err.start}); a genome file is YAML text") from None
    except OSError as err:
        raise GenomeError(f"{source}: cannot be read ({err.__class__.__name__}: {err})") from None
    data = _parse(text, source)
    genome = from_dict(data, source)
    meta = data.get(_META) or {}
    if not isinstance(meta, dict):
        raise GenomeError(f"{source}: meta must be a mapping, got {type(meta).__name__}", _META)
    return genome, meta


def load(path: str | os.PathLike[str]) -> Network:
    """Load the genome in a YAML file (a search's ``found.yaml`` included)."""
    return load_with_meta(path)[0]


def dump(genome: Network, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Write ``genome`` (and ``meta``) to ``path`` atomically: readers never see half a file."""
    return atomic_write_text(path, to_yaml(genome, meta))
