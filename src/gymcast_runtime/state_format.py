"""The bytes a game state travels as: a small header, tagged JSON, then the arrays' raw bytes. Data only.

Layout: `MAGIC` (4 bytes), the JSON's length (uint32, little-endian), the JSON text (ASCII), then
every array's bytes, little-endian and C-ordered, in the order the JSON names them (no offsets: the
n-th array in document order takes the next `prod(shape) * itemsize` bytes, and the buffer must be
used up exactly). Nothing in it names code to run: `gymcast_runtime.env_state` writes the values
into the receiver's own objects after checking them against those objects.

Platform independence: numpy's default integer (`np.int_`) is 64-bit natively and 32-bit in Pyodide
(wasm32). Arrays and scalars of that dtype travel as `"int"` (64-bit values on the wire) and are
read into whichever 32- or 64-bit integer dtype the receiver holds, refusing values that do not fit;
`np.uint` likewise travels as `"uint"`. Every other dtype travels by its exact name.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import numpy as np

MAGIC = b"GST\x01"  # gymcast state, format 1
_HEADER = struct.Struct("<4sI")

#: Bounds on a received state (it comes from another participant, who may be an attacker).
MAX_STATE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 250_000
MAX_NDIM = 32
MAX_STRING_DTYPE_CHARS = 4096

#: dtypes that may travel: numbers, booleans and fixed-width strings (never `object`).
ALLOWED_DTYPES = frozenset(
    [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    ]
)
PLATFORM_INTS = {"int": (np.dtype(np.int_), np.dtype("<i8")), "uint": (np.dtype(np.uint), np.dtype("<u8"))}
_FITS_PLATFORM_INT = {"int": ("int32", "int64"), "uint": ("uint32", "uint64")}


class StateError(ValueError):
    """A game state cannot be saved, or a received one does not fit this game; the message names the path."""


_WIRE_NAMES: dict[np.dtype, str] = {}


def wire_dtype(dtype: np.dtype, path: str) -> str:
    """The name `dtype` travels as; StateError for a dtype that may not travel (object, structured, ...)."""
    known = _WIRE_NAMES.get(dtype)
    if known is not None:
        return known
    name = _wire_name(dtype, path)
    _WIRE_NAMES[dtype] = name
    return name


def _wire_name(dtype: np.dtype, path: str) -> str:
    if dtype.kind in "iu" and dtype.itemsize == np.dtype(np.int_).itemsize:
        if dtype == PLATFORM_INTS["int"][0]:
            return "int"
        if dtype == PLATFORM_INTS["uint"][0]:
            return "uint"
    if dtype.kind in "US":
        return f"{dtype.kind}{dtype.itemsize // (4 if dtype.kind == 'U' else 1)}"
    name = dtype.newbyteorder("=").name if dtype.byteorder not in "=|" else dtype.name
    if name not in ALLOWED_DTYPES:
        raise StateError(
            f"{path}: a {dtype} array cannot be saved (only numbers, booleans and fixed-width strings travel); "
            "hold plain values instead, or define get_state() and set_state(state) on the env"
        )
    return name


def _local_dtype(name: Any, path: str) -> np.dtype:
    """The dtype a wire name is read as here (default ints become this platform's)."""
    if name in PLATFORM_INTS:
        return PLATFORM_INTS[name][0]
    if isinstance(name, str) and name in ALLOWED_DTYPES:
        return np.dtype(name)
    if isinstance(name, str) and name[:1] in ("U", "S") and name[1:].isdigit():
        if 0 < int(name[1:]) <= MAX_STRING_DTYPE_CHARS:
            return np.dtype(("<" if name[0] == "U" else "|") + name)
    raise StateError(f"{path}: dtype {name!r} may not be received (allowed: {', '.join(sorted(ALLOWED_DTYPES))})")


def dtype_fits(name: Any, receiver: np.dtype) -> bool:
    """Whether an array sent as dtype `name` may be written where the receiver holds a `receiver` array."""
    receiver_name = receiver.name if receiver.kind not in "US" else None
    if name in _FITS_PLATFORM_INT:
        return receiver_name in _FITS_PLATFORM_INT[name]
    try:
        return wire_dtype(receiver, "") == name or receiver_name == name
    except StateError:
        return False


class Writer:
    """Collects the JSON tree's array bytes while a state is encoded, then packs the whole state."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def array(self, array: np.ndarray, path: str) -> dict[str, Any]:
        """The node of an array (or, with shape None, of a numpy scalar); its bytes join the buffer."""
        name = wire_dtype(array.dtype, path)
        wire = PLATFORM_INTS[name][1] if name in PLATFORM_INTS else array.dtype.newbyteorder("<")
        data = np.ascontiguousarray(array, dtype=wire).tobytes()
        self._add(data, path)
        return {"$": "a", "d": name, "s": list(array.shape)}

    def scalar(self, value: np.generic, path: str) -> dict[str, Any]:
        """The node of a numpy scalar."""
        node = self.array(np.asarray(value), path)
        return {"$": "n", "d": node["d"]}

    def raw(self, data: bytes, path: str) -> dict[str, Any]:
        """The node of a `bytes` value."""
        self._add(data, path)
        return {"$": "b", "n": len(data)}

    def _add(self, data: bytes, path: str) -> None:
        self.size += len(data)
        if self.size > MAX_STATE_BYTES:
            raise StateError(
                f"{path}: the game state exceeds {MAX_STATE_BYTES // (1024 * 1024)} MiB, the most that may cross "
                "the network; keep large buffers (images, caches) out of the env's attributes, or define "
                "get_state() and set_state(state) on the env"
            )
        self.chunks.append(data)

    def pack(self, tree: Any) -> bytes:
        """The state's bytes: header, JSON, array buffer."""
        text = json.dumps(tree, separators=(",", ":"), allow_nan=False).encode("ascii")
        blob = b"".join([_HEADER.pack(MAGIC, len(text)), text, *self.chunks])
        if len(blob) > MAX_STATE_BYTES:
            raise StateError(
                f"the game state is {len(blob)} bytes, over the {MAX_STATE_BYTES} that may cross the network"
            )
        return blob


def float_node(value: float) -> Any:
    """A float as JSON: itself when finite, else a tagged "nan", "inf" or "-inf"."""
    if math.isfinite(value):
        return value
    return {"$": "f", "v": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def read_float(node: dict[str, Any], path: str) -> float:
    """The value of a tagged non-finite float node."""
    if node.get("v") not in _NON_FINITE:
        raise StateError(f"{path}: malformed non-finite float {node!r}")
    return _NON_FINITE[node["v"]]


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_MAX_JSON_NESTING = 4 * MAX_DEPTH + 8  # a value is at most a few JSON levels deep (tag object, items, pairs)


def _check_nesting(text: str) -> None:
    """StateError if the JSON nests deeper than any state may (strings are skipped)."""
    if text.count("[") + text.count("{") <= _MAX_JSON_NESTING:
        return
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > _MAX_JSON_NESTING:
                raise StateError(f"the game state's JSON nests deeper than {_MAX_JSON_NESTING} levels")
        elif token == "]" or token == "}":
            depth -= 1


def _refuse_constant(name: str) -> None:
    raise StateError(f"the game state's JSON holds {name}, which is not JSON; non-finite floats are tagged")


class Reader:
    """A received state's parts: the JSON tree, and its arrays' bytes taken in document order."""

    def __init__(self, blob: bytes) -> None:
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise StateError(f"a game state must be bytes, got {type(blob).__name__}")
        if len(blob) > MAX_STATE_BYTES:
            raise StateError(f"the game state is {len(blob)} bytes, over the {MAX_STATE_BYTES} this game accepts")
        if len(blob) < _HEADER.size or bytes(blob[:4]) != MAGIC:
            raise StateError(
                f"this is not a gymcast game state (it starts with {bytes(blob[:4])!r}, not {MAGIC!r}); "
                "states from other versions (pickles) are refused, because they could run code"
            )
        _, length = _HEADER.unpack_from(blob)
        if _HEADER.size + length > len(blob):
            raise StateError(f"the game state is cut short: its JSON needs {length} bytes")
        try:
            text = bytes(blob[_HEADER.size : _HEADER.size + length]).decode("ascii")
            _check_nesting(text)  # before the parser recurses into it
            self.tree = json.loads(text, parse_constant=_refuse_constant)
        except StateError:
            raise
        except (ValueError, RecursionError) as error:  # malformed, non-ASCII, too deep or oversized numbers
            raise StateError(f"the game state's JSON is malformed: {str(error)[:200]}") from None
        self.buffer = memoryview(bytes(blob[_HEADER.size + length :]))
        self.cursor = 0
        self.nodes = 0

    def count(self, depth: int, path: str) -> None:
        """Count one node at `depth`; StateError once the state is deeper or larger than allowed."""
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise StateError(f"{path}: the game state nests deeper than {MAX_DEPTH} levels")
        if self.nodes > MAX_NODES:
            raise StateError(f"{path}: the game state holds more than {MAX_NODES} values")

    def array(self, node: dict[str, Any], path: str, into: np.dtype | None = None) -> np.ndarray:
        """A fresh, writable array from an array node, as dtype `into` (default: the sent dtype read here)."""
        name, shape = node.get("d"), node.get("s")
        if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(_is_count(n) for n in shape):
            raise StateError(f"{path}: malformed array shape {shape!r}")
        return self._take(name, tuple(shape), path, into)

    def scalar(self, node: dict[str, Any], path: str, into: np.dtype | None = None) -> np.generic:
        """A numpy scalar from a scalar node."""
        value: Any = self._take(node.get("d"), (), path, into)[()]
        return value

    def raw(self, node: dict[str, Any], path: str) -> bytes:
        """The bytes of a `bytes` node."""
        size = node.get("n")
        if type(size) is not int or not _is_count(size):
            raise StateError(f"{path}: malformed bytes length {size!r}")
        return bytes(self._slice(size, path))

    def _take(self, name: Any, shape: tuple[int, ...], path: str, into: np.dtype | None) -> np.ndarray:
        sent = _local_dtype(name, path)
        wire = PLATFORM_INTS[name][1] if name in PLATFORM_INTS else sent.newbyteorder("<")
        local = sent if into is None else into
        data = self._slice(math.prod(shape) * wire.itemsize, path)
        array = np.frombuffer(data, dtype=wire).reshape(shape)
        if wire == local:
            return array.copy()
        if wire.kind in "iu" and local.kind in "iu" and array.size:
            info = np.iinfo(local)
            if array.min() < info.min or array.max() > info.max:
                raise StateError(f"{path}: values of a {name} array do not fit this platform's {local}")
        return array.astype(local)

    def _slice(self, size: int, path: str) -> memoryview:
        if size > len(self.buffer) - self.cursor:
            raise StateError(
                f"{path}: the state declares {size} bytes here, but only {len(self.buffer) - self.cursor} remain"
            )
        data = self.buffer[self.cursor : self.cursor + size]
        self.cursor += size
        return data

    def finish(self) -> None:
        """StateError if array bytes were left over (every byte must belong to a declared array)."""
        if self.cursor != len(self.buffer):
            raise StateError(f"the game state has {len(self.buffer) - self.cursor} bytes that no array declares")


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_STATE_BYTES
