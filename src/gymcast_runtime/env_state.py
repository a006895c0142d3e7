"""A game's state as data, so one browser can hand its game to another (desync repair, rejoining).

`save_state(parts)` encodes named live values (the env, the AI players, ...) in the data-only format
of `gymcast_runtime.state_format`. An object whose class defines `get_state() -> value` and
`set_state(value)` is saved through those; any other object is saved as its attributes, whatever
their names, recursively (an object met twice, or inside itself, is saved once and referred to).
Values are JSON-like (None, bool, int, float, str, bytes, list, tuple, dict, set, deque), numpy
arrays and scalars of numeric, boolean or string dtypes, enum members, and the states of
`numpy.random.Generator`, `numpy.random.RandomState` and `random.Random`. Classes, functions,
modules and dtypes travel as names only. Anything else (a lock, a C extension's object) is refused
with a StateError that names its path.

`load_state(parts, blob)` never creates an object of a class the data names, and never runs code the
data names. It first checks the whole received tree against the receiver's own objects: the same
class (by qualified name) and the same attribute names at each object; the same kind of value at each
path (None may stand for, and be replaced by, any value); arrays of the same dtype and number of
dimensions. Only then does it write the values into the receiver's objects, so a refused state leaves
the game unchanged. Lists, dicts and arrays are updated in place where the receiver has one; an
array whose shape differs, or data the receiver lacks (a longer list, a new dict key), is made afresh
from plain data, as the state of a variable-length container is data like any other. Objects must
already exist in the receiver, with the same sharing: an object the receiver holds once may not
receive two different states.
"""

from __future__ import annotations

import collections
import enum
import functools
import random
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from gymcast_runtime.state_format import (
    MAX_DEPTH,
    Reader,
    StateError,
    Writer,
    dtype_fits,
    float_node,
    read_float,
    wire_dtype,
)

__all__ = ["StateError", "load_state", "save_state"]

WRAPPED = "env"  # gymnasium and PettingZoo wrappers keep the env they wrap here
_SCALARS = (type(None), bool, int, float, str)
_PLAIN = frozenset([type(None), bool, int, str])  # values that are their own JSON
_SHAREABLE = frozenset([list, dict, np.ndarray, set, collections.deque])  # mutable values others may share
_HEAPTYPE, _IMMUTABLETYPE = 1 << 9, 1 << 8  # type flags: classes written in C are static or immutable
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "nothing"})()
_NAMED = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    functools.partial,
    np.ufunc,
)
_BIT_GENERATORS = {name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}
#: dict classes a received state may create when the receiver holds None at that path
_NEW_DICTS: dict[str, type] = {"builtins.dict": dict, "collections.OrderedDict": collections.OrderedDict}
_FIX = "define get_state() and set_state(state) on the env, or keep it out of the env's attributes"


def qualified(cls: type) -> str:
    """`module.QualName` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _custom(cls: type) -> bool:
    """Whether the class defines get_state/set_state (looked up on the class, so a wrapper that forwards
    unknown attributes to its env is not mistaken for the env)."""
    return callable(getattr(cls, "get_state", None)) and callable(getattr(cls, "set_state", None))


@functools.cache
def _slots(cls: type) -> tuple[str, ...] | None:
    """The slot attribute names of a plain Python class; None when a C base keeps state of its own."""
    names: list[str] = []
    for base in cls.__mro__:
        if base is object:
            continue
        written_in_c = not base.__flags__ & _HEAPTYPE or base.__flags__ & _IMMUTABLETYPE
        if written_in_c and base.__basicsize__ != object.__basicsize__:
            return None
        declared = base.__dict__.get("__slots__", ())
        for name in [declared] if isinstance(declared, str) else declared:
            if name not in ("__dict__", "__weakref__"):
                names.append(f"_{base.__name__.lstrip('_')}{name}" if name.startswith("__") else name)
    return tuple(names)


def _attributes(value: Any) -> dict[str, Any] | None:
    """An object's attributes (instance dict and set slots), or None if its state is not all attributes."""
    slots = _slots(type(value))  # type: ignore[arg-type]
    if slots is None:
        return None
    attributes = dict(getattr(value, "__dict__", {}))
    if not all(type(name) is str for name in attributes):
        return None
    for name in slots:
        try:
            attributes[name] = object.__getattribute__(value, name)
        except AttributeError:
            continue  # an unset slot
    return attributes


def _name(value: Any) -> str | None:
    """What a class, function, module or dtype travels as: its kind and name (None for other values)."""
    if isinstance(value, np.dtype):
        try:
            return f"dtype:{wire_dtype(value, '')}"
        except StateError:
            return f"dtype:{value.str}"
    if isinstance(value, type):
        return f"type:{qualified(value)}"
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}"
    if isinstance(value, _NAMED):
        target = value.func if isinstance(value, functools.partial) else getattr(value, "__func__", value)
        module = getattr(target, "__module__", None) or getattr(type(target), "__module__", "")
        kind = "method" if isinstance(value, types.MethodType) else type(value).__name__
        return f"{kind}:{module}.{getattr(target, '__qualname__', getattr(target, '__name__', '?'))}"
    return None


def _names_match(sent: Any, have: Any) -> bool:
    mine = _name(have)
    if isinstance(sent, str) and sent.startswith("dtype:") and isinstance(have, np.dtype):
        return mine == sent or dtype_fits(sent[6:], have)
    return mine == sent


def save_state(parts: dict[str, Any]) -> bytes:
    """The state of each named part as bytes; StateError names the path of a value that cannot be saved."""
    encoder = _Encoder()
    tree = {name: encoder.node(value, name, 0) for name, value in parts.items()}
    return encoder.writer.pack(tree)


class _Encoder:
    """Turns live values into the tagged JSON tree (`state_format`), numbering objects for references."""

    def __init__(self) -> None:
        self.writer = Writer()
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # every numbered value stays alive, so no id() is reused meanwhile

    def node(self, value: Any, path: str, depth: int, owner: type | None = None) -> Any:
        kind = type(value)
        if kind is float:
            return float_node(value)
        if kind in _SCALARS:
            return value
        if depth > MAX_DEPTH:
            raise StateError(f"{path}: the game state nests deeper than {MAX_DEPTH} levels")
        if kind not in _SHAREABLE:
            if isinstance(value, enum.Enum):
                return {"$": "e", "c": qualified(kind), "v": value.name}
            if kind is bytes:
                return self.writer.raw(value, path)
            if isinstance(value, np.generic):
                return self.writer.scalar(value, path)
            if kind is tuple or (isinstance(value, tuple) and hasattr(kind, "_fields")):
                node = {"$": "t", "v": self.items(value, path, depth)}
                return node if kind is tuple else {**node, "c": qualified(kind)}
            if kind is frozenset:
                return {"$": "z", "v": self.items(value, path, depth)}
            name = _name(value)
            if name is not None:
                return {"$": "k", "v": name}
        key = id(value)
        if key in self.memo:
            return {"$": "r", "v": self.memo[key]}
        self.memo[key] = len(self.memo)
        self.keep.append(value)
        return self.numbered(value, kind, path, depth, owner)

    def items(self, values: Any, path: str, depth: int) -> list[Any]:
        if all(type(item) in _PLAIN for item in values):
            return list(values)
        return [self.node(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(values)]

    def numbered(self, value: Any, kind: type, path: str, depth: int, owner: type | None) -> Any:
        """A value others may share (containers, arrays, generators, objects)."""
        if kind is list:
            return self.items(value, path, depth)
        if kind in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter):
            node = {"$": "d", **self.mapping(value, path, depth)}
            return node if kind is dict else {**node, "c": qualified(kind)}
        if kind is set:
            return {"$": "s", "v": self.items(value, path, depth)}
        if kind is collections.deque:
            return {"$": "q", "m": value.maxlen, "v": self.items(value, path, depth)}
        if kind is np.ndarray:
            return self.writer.array(value, path)
        if kind is np.random.Generator:
            return {"$": "g", "k": "Generator", "v": self.node(value.bit_generator.state, path, depth + 1)}
        if kind is np.random.RandomState:
            return {"$": "g", "k": "RandomState", "v": self.node(value.get_state(legacy=False), path, depth + 1)}
        if kind is random.Random:
            return {"$": "g", "k": "Random", "v": self.node(value.getstate(), path, depth + 1)}
        if _custom(kind):
            node = {"$": "x", "c": qualified(kind), "v": self.node(value.get_state(), f"{path}.get_state()", depth + 1)}
            inner = getattr(value, "__dict__", {}).get(WRAPPED)
            if inner is not None:
                node["e"] = self.node(inner, f"{path}.{WRAPPED}", depth + 1)
            return node
        attributes = _attributes(value)
        if attributes is None:
            where = f"{owner.__name__}.{path.rsplit('.', 1)[-1]}" if owner else path
            raise StateError(
                f"{path}: the game state cannot be saved: {where} is a {qualified(kind)}, whose state is not "
                f"Python attributes; {_FIX}"
            )
        return {
            "$": "o",
            "c": qualified(kind),
            "v": {name: self.node(item, f"{path}.{name}", depth + 1, kind) for name, item in attributes.items()},
        }

    def mapping(self, value: dict[Any, Any], path: str, depth: int) -> dict[str, Any]:
        if all(type(key) is str for key in value):
            if all(type(item) in _PLAIN for item in value.values()):
                return {"s": dict(value)}
            return {"s": {key: self.node(item, f"{path}[{key!r}]", depth + 1) for key, item in value.items()}}
        pairs = []
        for key, item in value.items():
            pairs.append(
                [self.node(key, f"{path}[{key!r}]", depth + 1), self.node(item, f"{path}[{key!r}]", depth + 1)]
            )
        return {"v": pairs}


def load_state(
    parts: dict[str, Any], blob: bytes, check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Write a `save_state` state into `parts` (the receiver's own values, by the same names).

    Returns the restored value of each part: the receiver's own objects, updated, and fresh plain
    data. StateError (naming the path) if the state does not fit, or if `check` (called with the
    values about to be restored) raises it; the parts are then unchanged.
    """
    reader = Reader(blob)
    if not isinstance(reader.tree, dict) or set(reader.tree) != set(parts):
        names = sorted(reader.tree) if isinstance(reader.tree, dict) else type(reader.tree).__name__
        raise StateError(f"the game state holds {names}, but this game saves {sorted(parts)}")
    loader = _Loader(reader)
    restored = {name: loader.value(node, parts[name], name, 0) for name, node in reader.tree.items()}
    reader.finish()
    if check is not None:
        check(restored)
    for write in loader.writes:
        write()
    return restored


def _describe(value: Any) -> str:
    """A receiver's value, for error messages."""
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar"
    if value is None or value is _MISSING:
        return repr(value)
    if isinstance(value, (list, tuple, dict, set, frozenset, collections.deque)):
        return f"a {type(value).__name__} of {len(value)}"
    if type(value) in _SCALARS or type(value) is bytes:
        return f"a {type(value).__name__}"
    name = _name(value)
    return name if name is not None else f"a {qualified(type(value))} object"


def _describe_node(node: Any) -> str:
    """A received node, for error messages."""
    if isinstance(node, list):
        return f"a list of {len(node)}"
    if not isinstance(node, dict):
        return "None" if node is None else f"a {type(node).__name__}"
    tag = node.get("$")
    if tag == "a":
        return f"a {node.get('d')} array of shape {tuple(node.get('s') or ())}"
    if tag in ("o", "x"):
        return f"a {node.get('c')} object"
    if tag == "k":
        return str(node.get("v"))
    kinds = {"n": "numpy scalar", "t": "tuple", "z": "frozenset", "d": "dict", "s": "set", "q": "deque", "e": "enum"}
    return f"a {kinds.get(str(tag), 'value tagged ' + repr(tag)[:40])}"


class _Loader:
    """Checks a received tree against the receiver's values, collecting the writes to make once all fits."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.numbered: list[Any] = []  # the value of each numbered node, for references
        self.claimed: dict[int, str] = {}  # id of a receiver's value -> the path that writes it
        self.writes: list[Callable[[], None]] = []

    def refuse(self, path: str, have: Any, node: Any) -> StateError:
        return StateError(f"{path}: expected {_describe(have)}, got {_describe_node(node)}")

    def claim(self, have: Any, path: str) -> bool:
        """Take the receiver's `have` as the target of this node; False if another node already writes it."""
        if id(have) in self.claimed:
            return False
        self.claimed[id(have)] = path
        return True

    def value(self, node: Any, have: Any, path: str, depth: int) -> Any:
        """The value `node` restores to, where the receiver now holds `have` (or _MISSING)."""
        self.reader.count(depth, path)
        kind = type(node)
        if node is None:
            return None
        if kind in _SCALARS:
            self.scalar_fits(node, have, path)
            return node
        if kind is list:
            return self.sequence(node, have, path, depth, list)
        if kind is not dict:
            raise StateError(f"{path}: malformed value {node!r:.60}")
        tag = node.get("$")
        handler = _HANDLERS.get(tag) if isinstance(tag, str) else None
        if handler is None:
            raise StateError(f"{path}: unknown value tag {tag!r:.40}")
        return handler(self, node, have, path, depth)

    def scalar_fits(self, node: Any, have: Any, path: str) -> None:
        if have is not _MISSING and have is not None and type(have) not in (*_SCALARS, bytes):
            if not isinstance(have, np.generic):
                raise self.refuse(path, have, node)

    def fresh_or(self, have: Any, kind: type, node: Any, path: str) -> bool:
        """Whether `have` can take this node in place; StateError if the receiver holds another kind of value."""
        if have is _MISSING or have is None:
            return False
        if type(have) is not kind:
            raise self.refuse(path, have, node)
        return self.claim(have, path)

    def write(self, in_place: bool, fill: Callable[[], Any]) -> None:
        """Fill a new container now; a receiver's own one only once the whole state has been checked."""
        if in_place:
            self.writes.append(fill)
        else:
            fill()

    def number(self, value: Any) -> int:
        self.numbered.append(value)
        return len(self.numbered) - 1

    def items(self, nodes: Any, have: Any, path: str, depth: int) -> list[Any]:
        if not isinstance(nodes, list):
            raise StateError(f"{path}: malformed items {nodes!r:.60}")
        olds = list(have) if isinstance(have, (list, tuple, collections.deque)) else []
        return [
            self.value(item, olds[index] if index < len(olds) else _MISSING, f"{path}[{index}]", depth + 1)
            for index, item in enumerate(nodes)
        ]

    def sequence(self, node: list[Any], have: Any, path: str, depth: int, kind: type) -> list[Any]:
        target = have if self.fresh_or(have, kind, node, path) else []
        self.number(target)
        values = self.items(node, have, path, depth)
        self.write(target is have, lambda: target.__setitem__(slice(None), values))
        return target

    def key(self, node: Any, path: str, depth: int) -> Any:
        """A dict key or set member: hashable plain data only."""
        if isinstance(node, dict) and node.get("$") not in ("f", "t", "z", "n", "b"):
            raise StateError(f"{path}: a dict key or set member must be plain data, got {_describe_node(node)}")
        if isinstance(node, list):
            raise StateError(f"{path}: a dict key or set member cannot be a list")
        key = self.value(node, _MISSING, path, depth + 1)
        try:
            hash(key)
        except TypeError:
            raise StateError(f"{path}: a dict key or set member must be hashable, got {_describe_node(node)}") from None
        return key

    def tuple_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        values = self.items(node.get("v"), have, path, depth)
        if "c" not in node:
            if have is not _MISSING and have is not None and type(have) is not tuple:
                raise self.refuse(path, have, node)
            return tuple(values)
        if not isinstance(have, tuple) or qualified(type(have)) != node["c"]:
            raise self.refuse(path, have, node)
        try:
            return type(have)._make(values)  # type: ignore[attr-defined]
        except Exception as error:
            raise StateError(f"{path}: {node['c']} does not take {len(values)} values: {error}") from None

    def frozenset_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        if have is not _MISSING and have is not None and type(have) is not frozenset:
            raise self.refuse(path, have, node)
        return frozenset(self.members(node, path, depth))

    def members(self, node: dict[str, Any], path: str, depth: int) -> list[Any]:
        nodes = node.get("v")
        if not isinstance(nodes, list):
            raise StateError(f"{path}: malformed members {nodes!r:.60}")
        return [self.key(item, f"{path}[{index}]", depth) for index, item in enumerate(nodes)]

    def set_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        target = have if self.fresh_or(have, set, node, path) else set()
        self.number(target)
        members = self.members(node, path, depth)
        self.write(target is have, lambda: (target.clear(), target.update(members)))
        return target

    def deque_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        maxlen = node.get("m")
        if maxlen is not None and (type(maxlen) is not int or not 0 <= maxlen <= sys.maxsize):
            raise StateError(f"{path}: malformed deque length {maxlen!r:.40}")
        in_place = self.fresh_or(have, collections.deque, node, path)
        if in_place and have.maxlen != maxlen:
            raise StateError(f"{path}: expected a deque of at most {have.maxlen} items, got one of {maxlen}")
        target = have if in_place else collections.deque(maxlen=maxlen)
        self.number(target)
        values = self.items(node.get("v"), have, path, depth)
        self.write(target is have, lambda: (target.clear(), target.extend(values)))
        return target

    def dict_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        name = node.get("c", "builtins.dict")
        if have is not _MISSING and have is not None:
            if not isinstance(have, dict) or qualified(type(have)) != name:
                raise self.refuse(path, have, node)
            target = have if self.claim(have, path) else _NEW_DICTS.get(name, dict)()
        elif name in _NEW_DICTS:
            target = _NEW_DICTS[name]()
        else:
            raise StateError(f"{path}: the received state has a {name} here, and this game has none")
        self.number(target)
        olds = have if isinstance(have, dict) else {}
        pairs = []
        if isinstance(node.get("s"), dict):
            for key, item in node["s"].items():
                pairs.append((key, self.value(item, olds.get(key, _MISSING), f"{path}[{key!r}]", depth + 1)))
        elif isinstance(node.get("v"), list):
            for pair in node["v"]:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise StateError(f"{path}: malformed dict item {pair!r:.60}")
                key = self.key(pair[0], path, depth)
                pairs.append((key, self.value(pair[1], olds.get(key, _MISSING), f"{path}[{key!r}]", depth + 1)))
        else:
            raise StateError(f"{path}: malformed dict")
        self.write(target is have, lambda: (target.clear(), target.update(pairs)))
        return target

    def array(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        if isinstance(have, np.ndarray) and type(have) is np.ndarray:
            shape = node.get("s")
            if not dtype_fits(node.get("d"), have.dtype) or not isinstance(shape, list) or len(shape) != have.ndim:
                raise self.refuse(path, have, node)
            fresh = self.reader.array(node, path, have.dtype)
            if fresh.shape == have.shape and have.flags.writeable and self.claim(have, path):
                self.number(have)
                self.writes.append(lambda: np.copyto(have, fresh))
                return have
        elif have is not _MISSING and have is not None:
            raise self.refuse(path, have, node)
        else:
            fresh = self.reader.array(node, path)
        self.number(fresh)
        return fresh

    def numpy_scalar(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        self.scalar_fits(node, have, path)
        same = isinstance(have, np.generic) and dtype_fits(node.get("d"), have.dtype)
        return self.reader.scalar(node, path, have.dtype if same else None)

    def bytes_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        self.scalar_fits(node, have, path)
        return self.reader.raw(node, path)

    def float_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        self.scalar_fits(node, have, path)
        return read_float(node, path)

    def enum_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        if not isinstance(have, enum.Enum) or qualified(type(have)) != node.get("c"):
            raise self.refuse(path, have, node)
        try:
            return type(have)[str(node.get("v"))]
        except (KeyError, TypeError):
            raise StateError(f"{path}: {node.get('c')} has no member {node.get('v')!r:.40}") from None

    def named(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        if not _names_match(node.get("v"), have):
            raise StateError(f"{path}: expected {_describe(have)}, got {str(node.get('v'))[:200]}")
        return have  # code is never received: the receiver keeps its own

    def reference(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        index = node.get("v")
        if type(index) is not int or not 0 <= index < len(self.numbered):
            raise StateError(f"{path}: malformed reference {index!r:.40}")
        value = self.numbered[index]
        if have is not _MISSING and have is not None and type(have) is not type(value):
            raise StateError(f"{path}: expected {_describe(have)}, got a reference to {_describe(value)}")
        return value

    def generator(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        kinds = {"Generator": np.random.Generator, "RandomState": np.random.RandomState, "Random": random.Random}
        kind = kinds.get(node.get("k"))  # type: ignore[arg-type]
        if kind is None or (have is not _MISSING and have is not None and type(have) is not kind):
            raise self.refuse(path, have, node)
        index = self.number(None)
        state = self.value(node.get("v"), _MISSING, f"{path}.state", depth + 1)
        in_place = type(have) is kind and self.claim(have, path)
        generator = _seeded(kind, state, path, reuse=in_place)  # checks the state on a generator of its own
        mine, sent = type(getattr(have, "bit_generator", None)), type(getattr(generator, "bit_generator", None))
        if in_place and mine is not sent:
            raise StateError(f"{path}: expected a {mine.__name__} generator, got a {sent.__name__} one")
        if in_place:
            self.writes.append(lambda: _set_generator(have, state))
            generator = have
        self.numbered[index] = generator
        return generator

    def object_(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        name = node.get("c")
        if have is _MISSING or have is None:
            raise StateError(
                f"{path}: the received state has a {str(name)[:200]} object here, and this game has {have!r}; "
                "objects are never created from received state"
            )
        if qualified(type(have)) != name:
            raise self.refuse(path, have, node)
        if not self.claim(have, path):
            raise StateError(
                f"{path}: this game holds the same object here and at {self.claimed[id(have)]}, "
                "but the received state has two different ones"
            )
        self.number(have)
        if node.get("$") == "x":
            return self.custom(node, have, path, depth)
        attributes = _attributes(have)
        sent = node.get("v")
        if attributes is None or not isinstance(sent, dict):
            raise self.refuse(path, have, node)
        if set(sent) != set(attributes):
            extra, missing = sorted(set(sent) - set(attributes)), sorted(set(attributes) - set(sent))
            differences = [
                f"has {extra}, which this game's lacks" if extra else "",
                f"lacks {missing}" if missing else "",
            ]
            raise StateError(
                f"{path}: the received {name} {' and '.join(filter(None, differences))}; both sides must run the "
                "same env code, and make every attribute in __init__ or reset"
            )
        values = {key: self.value(item, attributes[key], f"{path}.{key}", depth + 1) for key, item in sent.items()}
        self.writes.append(lambda: _set_attributes(have, values))
        return have

    def custom(self, node: dict[str, Any], have: Any, path: str, depth: int) -> Any:
        if not _custom(type(have)):
            raise self.refuse(path, have, node)
        state = self.value(node.get("v"), have.get_state(), f"{path}.get_state()", depth + 1)
        inner = getattr(have, "__dict__", {}).get(WRAPPED, _MISSING)
        if ("e" in node) != (inner is not _MISSING and inner is not None):
            raise StateError(f"{path}.{WRAPPED}: expected {_describe(inner)}, got {'an env' if 'e' in node else None}")
        if "e" in node:
            wrapped = self.value(node["e"], inner, f"{path}.{WRAPPED}", depth + 1)
            self.writes.append(lambda: _set_attributes(have, {WRAPPED: wrapped}))
        self.writes.append(lambda: _set_state(have, state, path))
        return have


_HANDLERS: dict[str, Callable[[_Loader, dict[str, Any], Any, str, int], Any]] = {
    "f": _Loader.float_,
    "t": _Loader.tuple_,
    "z": _Loader.frozenset_,
    "s": _Loader.set_,
    "q": _Loader.deque_,
    "d": _Loader.dict_,
    "a": _Loader.array,
    "n": _Loader.numpy_scalar,
    "b": _Loader.bytes_,
    "e": _Loader.enum_,
    "k": _Loader.named,
    "r": _Loader.reference,
    "g": _Loader.generator,
    "o": _Loader.object_,
    "x": _Loader.object_,
}


_PROBES: dict[Any, Any] = {}


def _seeded(kind: type, state: Any, path: str, reuse: bool) -> Any:
    """A generator of `kind` (numpy's or Python's own classes only) put into `state`: a new one, or with
    `reuse` one kept for checking states. Seeded with 0, as drawing OS entropy is slow in Pyodide."""
    try:
        bits = None
        if kind is np.random.Generator:
            bits = _BIT_GENERATORS.get(str(state.get("bit_generator")) if isinstance(state, dict) else "")
            if bits is None:
                raise ValueError(f"unknown bit generator in {str(state)[:80]}")
        generator = _PROBES.get((kind, bits)) if reuse else None
        if generator is None:
            generator = np.random.Generator(bits(0)) if bits is not None else kind(0)
            if reuse:
                _PROBES[(kind, bits)] = generator
        _set_generator(generator, state)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise StateError(f"{path}: not a valid {kind.__name__} state: {str(error)[:200]}") from None
    return generator


def _set_generator(generator: Any, state: Any) -> None:
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state
    elif isinstance(generator, np.random.RandomState):
        generator.set_state(state)
    else:
        generator.setstate(state)


def _set_attributes(target: Any, values: dict[str, Any]) -> None:
    own = getattr(target, "__dict__", None)
    for name, value in values.items():
        if own is not None and name in own:
            own[name] = value
        else:
            object.__setattr__(target, name, value)


def _set_state(target: Any, state: Any, path: str) -> None:
    try:
        target.set_state(state)
    except Exception as error:
        raise StateError(f"{path}.set_state() failed on a checked state: {type(error).__name__}: {error}") from error
