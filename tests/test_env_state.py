"""Env state as data, natively: whole games round-trip, and crafted states are refused without running anything.

A state crosses the relay from a partner (desync repair, rejoin), so it is checked against the
receiver's own env before a single value is written; each refusal names the path and leaves the game
exactly as it was.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import random
import struct
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import CARTPOLE, REPO
from gymcast import Experiment, Human
from gymcast_runtime import GameSession
from gymcast_runtime.env_state import StateError, load_state, save_state
from gymcast_runtime.hashing import state_hash
from gymcast_runtime.state_format import MAGIC, MAX_DEPTH, MAX_NODES, MAX_STATE_BYTES, Reader

KEEPER = Path(__file__).parent / "fixtures" / "experiments" / "keeper"


def load_game(folder: Path, module: str, monkeypatch) -> dict[str, Any]:
    """The `main` game config of `folder/module.py` (examples share module names, so load it by path)."""
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location(f"_state_{folder.name}_{module}", folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded.experiment.games()["main"]


def cartpole(monkeypatch) -> dict[str, Any]:
    monkeypatch.syspath_prepend(str(CARTPOLE))
    return (
        Experiment("cartpole")
        .environment(env_id="CartPole-v1")
        .players({"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1})})
        .rendering(frame_fn="frames:draw_cartpole")
        .games()["main"]
    )


GAMES = {
    "cartpole": cartpole,
    "overcooked": lambda mp: load_game(REPO / "examples" / "overcooked", "human_human", mp),
    "slime_volleyball": lambda mp: load_game(REPO / "examples" / "slime_volleyball", "human_human", mp),
    "keeper (EzPickle under .board)": lambda mp: load_game(KEEPER, "experiment", mp),
}


def random_actions(session: GameSession, count: int, seed: int) -> list[dict[str, Any]]:
    chooser = random.Random(seed)
    humans = [agent for agent in session.agents if agent not in session.ai]
    return [
        {agent: chooser.randrange(int(session.adapter.action_space(agent).n)) for agent in humans} for _ in range(count)
    ]


def play(session: GameSession, actions: list[dict[str, Any]]) -> list[tuple[str, dict]]:
    """Each step's observation hash (gymcast_runtime.hashing) and log record; episodes restart as the worker does."""
    records = []
    for action in actions:
        record = session.step(action)
        records.append((state_hash(session.observation), record))
        if record["terminated"] or record["truncated"]:
            session.reset(seed=123, episode=session.episode + 1)
    return records


@pytest.mark.parametrize("name", list(GAMES))
def test_a_game_restored_elsewhere_steps_exactly_as_the_original(name, monkeypatch):
    game = GAMES[name](monkeypatch)
    original = GameSession(game)
    original.reset(seed=7)
    play(original, random_actions(original, 25, seed=1))
    blob = original.snapshot()
    assert blob.startswith(MAGIC) and b"\x80\x05" not in blob[:2]
    later = random_actions(original, 40, seed=2)

    rejoining = GameSession(game)  # a browser that has not played yet, as after a reload
    other = GameSession(game)  # a browser whose game went elsewhere (a desync)
    other.reset(seed=99)
    play(other, random_actions(other, 11, seed=3))
    for receiver in (rejoining, other):
        assert receiver.restore(blob) == {"step": 25, "episode": 0, "obs_hash": original.obs_hash()}
        assert receiver.snapshot() == blob  # every value, generators included, arrived
    expected = play(original, later)
    assert play(rejoining, later) == expected
    assert play(other, later) == expected


def test_the_ezpickle_board_keeps_its_pieces(monkeypatch):
    """Pickle rebuilds an EzPickle object from its constructor arguments: an empty board. Data keeps the pieces."""
    game = GAMES["keeper (EzPickle under .board)"](monkeypatch)
    original = GameSession(game)
    original.reset(seed=1)
    play(original, random_actions(original, 12, seed=4))
    receiver = GameSession(game)
    receiver.restore(original.snapshot())
    board = receiver.env.board
    assert board is not original.env.board and np.count_nonzero(board.cells) > 0
    assert np.array_equal(board.cells, original.env.board.cells) and board.visits == original.env.board.visits
    assert receiver.env.view is board.cells and receiver.env.me is receiver.env  # sharing and cycles kept
    assert board.heights.dtype == np.dtype(int) and board.phase is original.env.board.phase


@pytest.fixture
def keeper_session(monkeypatch) -> GameSession:
    session = GameSession(GAMES["keeper (EzPickle under .board)"](monkeypatch))
    session.reset(seed=2)
    play(session, random_actions(session, 9, seed=5))
    return session


def unpack(blob: bytes) -> tuple[Any, bytes]:
    _, length = struct.unpack_from("<4sI", blob)
    return json.loads(blob[8 : 8 + length]), blob[8 + length :]


def pack(tree: Any, buffer: bytes) -> bytes:
    text = json.dumps(tree).encode()
    return MAGIC + struct.pack("<I", len(text)) + text + buffer


def edited(blob: bytes, edit) -> bytes:
    tree, buffer = unpack(blob)
    edit(tree)
    return pack(tree, buffer)


def assert_refused(session: GameSession, blob: bytes, *fragments: str) -> str:
    """The state is refused with a message holding every fragment, and the game is exactly as it was."""
    before = session.snapshot()
    with pytest.raises(StateError) as error:
        session.restore(blob)
    for fragment in fragments:
        assert fragment in str(error.value)
    assert session.snapshot() == before
    return str(error.value)


class Payload:
    """A pickle that creates a file when it is loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_pickle_is_refused_without_running_it(keeper_session, tmp_path):
    target = tmp_path / "pwned"
    payload = pickle.dumps({"layers": [Payload(target)], "extra": {}}, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(payload)  # the payload works: loading it creates the file
    assert target.exists()
    target.unlink()
    assert_refused(keeper_session, payload, "not a gymcast game state", "pickle")
    assert not target.exists()


def env_node(tree: dict[str, Any]) -> dict[str, Any]:
    return tree["env"]["v"]


def test_an_extra_or_missing_attribute_is_refused(keeper_session):
    blob = keeper_session.snapshot()
    message = assert_refused(
        keeper_session,
        edited(blob, lambda tree: env_node(tree)["board"]["v"].__setitem__("sneaky", 1)),
        "env.board:",
        "sneaky",
    )
    assert "keeper.Board" in message
    assert_refused(keeper_session, edited(blob, lambda tree: env_node(tree).pop("noise")), "env:", "noise")
    # the last part is checked before the first is written: the env is unchanged
    assert_refused(
        keeper_session, edited(blob, lambda tree: tree["callback"]["v"].__setitem__("extra", 0)), "callback:", "extra"
    )


def test_an_object_of_another_class_is_refused(keeper_session):
    blob = keeper_session.snapshot()

    def swap_class(tree):
        env_node(tree)["board"]["c"] = "subprocess.Popen"

    assert_refused(keeper_session, edited(blob, swap_class), "env.board: expected a keeper.Board object", "Popen")

    def name_other_code(tree):
        tree["players"]["s"]["fallback:red"]["v"]["space"] = {"$": "k", "v": "function:os.system"}

    assert_refused(keeper_session, edited(blob, name_other_code), "players['fallback:red'].space", "os.system")

    def invent_an_object(tree):
        env_node(tree)["last"] = {"$": "o", "c": "keeper.Board", "v": {}}

    assert_refused(keeper_session, edited(blob, invent_an_object), "env.last: expected a float, got a keeper.Board")
    invented = pack({"spot": {"$": "o", "c": "os._wrap_close", "v": {}}}, b"")
    with pytest.raises(StateError, match=r"spot: .*os\._wrap_close object here, .*never created"):
        load_state({"spot": None}, invented)


def test_a_wrong_or_object_dtype_is_refused(keeper_session):
    blob = keeper_session.snapshot()

    def retype(dtype: str):
        def edit(tree):
            env_node(tree)["board"]["v"]["cells"]["d"] = dtype

        return edit

    assert_refused(
        keeper_session,
        edited(blob, retype("uint8")),
        "env.board.cells: expected a int8 array of shape (6, 7), got a uint8 array of shape (6, 7)",
    )
    assert_refused(keeper_session, edited(blob, retype("object")), "env.board.cells", "object array")

    with pytest.raises(StateError, match="spot: dtype 'object' may not be received"):
        load_state({"spot": None}, pack({"spot": {"$": "a", "d": "object", "s": [1]}}, bytes(8)))

    def more_dimensions(tree):
        env_node(tree)["board"]["v"]["cells"]["s"] = [6, 7, 1]

    assert_refused(keeper_session, edited(blob, more_dimensions), "env.board.cells: expected a int8 array")


def test_an_env_holding_an_object_array_cannot_be_saved():
    class Holder:
        def __init__(self):
            self.things = np.array([object(), None], dtype=object)

    with pytest.raises(StateError, match=r"env\.things: a object array cannot be saved"):
        save_state({"env": Holder()})


def test_huge_and_deep_states_are_refused(keeper_session):
    blob = keeper_session.snapshot()
    assert_refused(keeper_session, blob + bytes(MAX_STATE_BYTES), "over the")

    def huge_array(tree):
        env_node(tree)["board"]["v"]["cells"]["s"] = [6, 7 * 10**5]

    assert_refused(keeper_session, edited(blob, huge_array), "env.board.cells", "declares", "remain")

    def many_values(tree):
        env_node(tree)["agents"] = [0] * (MAX_NODES + 1)

    assert_refused(keeper_session, edited(blob, many_values), "env.agents", f"more than {MAX_NODES} values")

    def deep(levels: int):
        def edit(tree):
            nested: Any = 0
            for _ in range(levels):
                nested = [nested]
            env_node(tree)["board"]["v"]["visits"]["v"].append([{"$": "t", "v": [9, 9]}, nested])

        return edit

    assert_refused(keeper_session, edited(blob, deep(MAX_DEPTH + 5)), "env.board.visits[(9, 9)][0][0]", "deeper than")
    tree, buffer = unpack(blob)
    text = json.dumps(tree).replace('"step": 9', '"step": ' + "[" * 100_000 + "]" * 100_000)
    assert_refused(keeper_session, MAGIC + struct.pack("<I", len(text)) + text.encode() + buffer, "JSON nests deeper")


def test_malformed_states_are_refused(keeper_session):
    blob = keeper_session.snapshot()
    tree, buffer = unpack(blob)
    assert_refused(keeper_session, pack(tree, buffer + b"\0"), "1 bytes that no array declares")
    assert_refused(keeper_session, pack(tree, buffer[:-1]), "remain")
    nan = json.dumps(tree).replace('"step": 9', '"step": NaN')
    assert_refused(keeper_session, MAGIC + struct.pack("<I", len(nan)) + nan.encode() + buffer, "NaN")
    assert_refused(keeper_session, edited(blob, lambda t: t.__setitem__("step", -3)), "step: expected a count")
    assert_refused(keeper_session, edited(blob, lambda t: env_node(t).__setitem__("me", {"$": "r", "v": 10**6})), "me")
    assert_refused(keeper_session, edited(blob, lambda t: t.pop("callback")), "this game saves")
    assert_refused(keeper_session, b"GST\x01\xff\xff\xff\x00{}", "cut short")


def test_restore_refuses_two_states_for_one_shared_object():
    class Piece:
        def __init__(self):
            self.x = 0

    class Two:
        def __init__(self, shared: bool):
            self.a = Piece()
            self.b = self.a if shared else Piece()

    blob = save_state({"env": Two(shared=False)})
    with pytest.raises(StateError, match=r"env\.b: this game holds the same object here and at env\.a"):
        load_state({"env": Two(shared=True)}, blob)
    apart = Two(shared=False)  # the other way round: two objects take the state of one shared object
    load_state({"env": apart}, save_state({"env": Two(shared=True)}))
    assert apart.b is apart.a


def test_default_ints_travel_between_32_and_64_bit_platforms():
    """Pyodide's default int is 32-bit: an `int` array is read into the receiver's own int32 or int64 array."""
    sent = save_state({"heights": np.array([1, 2, 2**31 + 5], dtype=int), "small": np.array([3, 4], dtype=int)})
    assert b'"d":"int"' in sent
    small32 = np.zeros(2, dtype=np.int32)
    restored = load_state({"heights": None, "small": small32}, sent)
    assert restored["small"] is small32 and small32.tolist() == [3, 4]
    with pytest.raises(StateError, match="do not fit this platform's int32"):
        load_state({"heights": np.zeros(3, dtype=np.int32), "small": None}, sent)
    explicit32 = save_state({"a": np.array([7], dtype=np.int32)})
    assert load_state({"a": np.zeros(1, dtype=np.int32)}, explicit32)["a"].tolist() == [7]
    assert Reader(sent).tree["heights"] == {"$": "a", "d": "int", "s": [3]}


def test_values_of_every_kind_round_trip():
    import collections
    import enum

    class Colour(enum.Enum):
        RED = 1

    state = {
        "floats": [1.5, float("nan"), float("inf"), -float("inf"), -0.0],
        "scalars": [np.float32(2.5), np.int64(-3), np.bool_(True), np.uint8(7)],
        "keys": {(1, "a"): frozenset({1, 2}), 3: b"\x00\xff", None: {"x"}},
        "ordered": collections.OrderedDict(b=1, a=2),
        "deque": collections.deque([1, 2], maxlen=3),
        "enum": Colour.RED,
        "strings": np.array(["ab", "c"]),
        "rngs": [np.random.default_rng(5), np.random.Generator(np.random.MT19937(6)), np.random.RandomState(7)],
    }
    template = {"enum": Colour.RED}  # an enum member is looked up in the receiver's own enum class
    restored = load_state({"state": template}, save_state({"state": state}))["state"]
    assert restored is template and restored["enum"] is Colour.RED
    assert repr(restored["floats"]) == repr(state["floats"])
    assert [(type(v), v) for v in restored["scalars"]] == [(type(v), v) for v in state["scalars"]]
    assert restored["keys"] == state["keys"] and restored["ordered"] == state["ordered"]
    assert list(restored["ordered"]) == ["b", "a"] and restored["deque"].maxlen == 3
    assert restored["strings"].tolist() == ["ab", "c"]
    assert [g.random() for g in restored["rngs"][:2]] == [g.random() for g in state["rngs"][:2]]
    assert restored["rngs"][2].randint(1000) == state["rngs"][2].randint(1000)
    code = [len, np.add, np.float32, np.dtype("float16"), json.dumps, state.get]  # names only: the receiver's own
    mine = [len, np.add, np.float32, np.dtype("float16"), json.dumps, template.get]
    assert load_state({"code": mine}, save_state({"code": code}))["code"] == mine
    with pytest.raises(StateError, match=r"code\[4\]: expected function:json.dumps, got function:json.loads"):
        load_state({"code": mine}, save_state({"code": [*code[:4], json.loads, state.get]}))


def test_what_cannot_be_saved_is_named():
    class Env:
        def __init__(self):
            self.lock = threading.Lock()

    with pytest.raises(StateError, match=r"env\.lock: .*Env\.lock is a _thread\.lock.*get_state\(\)"):
        save_state({"env": Env()})
    with pytest.raises(StateError, match=r"env\.items: .*list subclass|env\.items"):

        class Items(list):
            pass

        holder = Env()
        holder.lock = None
        holder.items = Items()
        save_state({"env": holder})


def test_get_state_values_travel_as_data_too(monkeypatch):
    """An env's own get_state()/set_state() are used, and their value is data, checked like any other."""
    game = GAMES["overcooked"](monkeypatch)
    session = GameSession(game)
    session.reset(seed=3)
    blob = session.snapshot()
    assert b'"$":"x","c":"kitchen.Kitchen"' in blob and b"\x80" not in blob.split(b"}")[0]

    def break_the_grid(tree):
        tree["env"]["v"]["s"]["cogrid"]["s"]["agent_pos"] = {"$": "o", "c": "builtins.object", "v": {}}

    assert_refused(
        session, edited(blob, break_the_grid), "env.get_state()['cogrid']['agent_pos']: expected a list of 2, got a"
    )


def test_nothing_in_the_repository_unpickles():
    sources = [p for p in (REPO / "src").rglob("*.py")] + [p for p in (REPO / "src").rglob("*.js")]
    offenders = [str(p) for p in sources if "pickle.load" in p.read_text() or "allow_pickle=True" in p.read_text()]
    assert offenders == []
    assert "pickle" not in sys.modules["gymcast_runtime.env_state"].__dict__


def duo_game(monkeypatch, creator: str) -> dict[str, Any]:
    from test_multiplayer_config import duo

    monkeypatch.syspath_prepend(str(CARTPOLE))
    game = duo().games()["main"]
    game["env"] = {"id": None, "creator": creator, "kwargs": {}}
    return game


def lazy_env():
    """A twin CartPole that makes an attribute on its first step: a rejoining browser's env lacks it."""
    from twin import TwinCartPole

    class Lazy(TwinCartPole):
        def step(self, actions):
            self.moves = getattr(self, "moves", 0) + 1
            return super().step(actions)

    return Lazy(agents=("top", "bottom"))


def locked_env():
    from twin import TwinCartPole

    env = TwinCartPole(agents=("top", "bottom"))
    env.lock = threading.Lock()
    return env


def test_the_build_names_state_that_a_rejoining_browser_cannot_take(monkeypatch):
    from gymcast import ConfigError
    from gymcast.bundler.native_check import check_game_natively

    with pytest.raises(ConfigError) as error:
        check_game_natively(duo_game(monkeypatch, "test_env_state:lazy_env"))
    message = str(error.value)
    assert "a new session (a rejoin)" in message and "['moves']" in message and "__init__ or reset" in message
    with pytest.raises(ConfigError, match=r"env\.lock: .*TwinCartPole\.lock is a _thread\.lock"):
        check_game_natively(duo_game(monkeypatch, "test_env_state:locked_env"))


def test_a_single_player_game_never_saves_its_state(monkeypatch):
    """The build's trace and the warm-up round-trip state only for networked games (issue 16: only they move it)."""
    from gymcast.bundler.native_check import check_game_natively
    from gymcast_runtime.loading import exercising

    game = duo_game(monkeypatch, "test_env_state:locked_env")
    game["multiplayer"] = None
    check_game_natively(game)
    assert len(list(exercising(game, 60))) == 60
    game["multiplayer"] = duo_game(monkeypatch, "test_env_state:locked_env")["multiplayer"]
    with pytest.raises(StateError, match="lock"):
        list(exercising(game, 60))


def test_unhashable_keys_and_bad_lengths_are_refused_before_anything_changes(keeper_session):
    blob = keeper_session.snapshot()

    def list_in_a_key(tree):
        env_node(tree)["board"]["v"]["visits"]["v"].append([{"$": "t", "v": [[1, 2]]}, 1])

    assert_refused(keeper_session, edited(blob, list_in_a_key), "env.board.visits", "must be hashable")

    def endless_deque(tree):
        env_node(tree)["board"]["v"]["moves"]["m"] = 10**30

    assert_refused(keeper_session, edited(blob, endless_deque), "env.board.moves: malformed deque length")
