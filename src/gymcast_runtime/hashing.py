"""Stable hashes of observations, identical natively and in Pyodide."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

HASH_HEX_CHARS = 16


def state_hash(value: Any) -> str:
    """A 16-hex-char digest of an observation (arrays, dicts, tuples, lists and scalars).

    Arrays hash by dtype, shape and bytes; dicts by sorted keys. Integer arrays are widened to
    64 bits first: numpy's default integer is 32-bit in Pyodide (wasm32) and 64-bit natively, and
    the same values must hash alike on both. Equal observations give equal hashes on every
    platform, so a replay can check each recorded step.
    """
    digest = hashlib.blake2b(digest_size=HASH_HEX_CHARS // 2)
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: hashlib._Hash, value: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(repr(key).encode())
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (tuple, list)):
        digest.update(b"(")
        for item in value:
            _feed(digest, item)
        digest.update(b")")
    else:
        array = np.ascontiguousarray(value)
        if array.dtype.kind in "iu":
            array = array.astype("<i8" if array.dtype.kind == "i" else "<u8")
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
