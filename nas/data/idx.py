"""Read IDX files (the MNIST / Fashion-MNIST format, LeCun et al.), gzipped or not."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from search_spaces.errors import UserInputError

__all__ = ["read_idx"]

#: IDX type byte -> numpy dtype (big-endian where it matters).
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` files are decompressed on the fly).

    Raises:
        UserInputError: naming the file if it is not a valid IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: a damaged .gz
        raise UserInputError(f"{path}: cannot read IDX file ({err})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise UserInputError(f"{path}: not an IDX file (bad magic number)")
    dims = data[3]
    if len(data) < 4 + 4 * dims:
        raise UserInputError(f"{path}: IDX file is truncated (its header names {dims} dimensions)")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    dtype = np.dtype(_DTYPES[data[2]])
    body = data[4 + 4 * dims:]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise UserInputError(f"{path}: IDX file is truncated (expected {shape} of {dtype})")
    return np.frombuffer(body, dtype=dtype).reshape(shape)
