"""Simulated relay players on bare sockets, all driven by one selector loop (the load client of
`relay_load.py`). Each speaks websockets' sans-I/O client protocol, with no task or coroutine per player: about
two thirds of the CPU per player of the asyncio client before it, on the machine that also hosts the relay.
Every action a player will send is framed and masked before play starts (`Players.prepare`), as each browser
does on its own machine: during play the client only writes frames and reads its partners'. During play the
sockets are non-blocking (no poll before each send and receive) and the host's frames, unmasked and whole, are
split here (`Player.read_play`, with the host's own `frame_size`) rather than by the protocol's parser; a ping is answered, a close
frame ends the player."""

from __future__ import annotations

import json
import selectors
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from gymcast.contracts import RELAY_SCHEMA
from gymcast.relay.websocket import frame_size

ACTION = '{{"type":"action","episode":0,"step":{step},"agent":"{agent}","action":0}}'
CONNECTING_AT_ONCE = 50
"""Handshakes in flight at once: a burst of 1000 connects overflows the host's listen backlog."""


@dataclass(eq=False)
class Player:
    """One player: its socket, its protocol, and what it sent and heard."""

    session: tuple[str, str]
    sock: socket.socket
    protocol: ClientProtocol
    open: bool = False
    seat: str | None = None
    group: str | None = None
    partner: Player | None = None
    closed: str | None = None
    sent_at: dict[int, float] = field(default_factory=dict)
    actions: list[bytes] = field(default_factory=list)  # the frame of each step's action, built before play
    partial: bytes = b""  # the start of a frame not wholly read yet (during play)

    def write(self, data: bytes) -> None:
        """Write everything, or count the player as dropped (a host that stopped reading for 10 s)."""
        try:
            if self.sock.gettimeout() != 0.0:  # before play: a blocking socket
                self.sock.sendall(data)
                return
            try:
                sent = self.sock.send(data)  # during play, non-blocking: the usual frame goes out whole at once
            except BlockingIOError:
                sent = 0
            if sent < len(data):  # the socket's buffer is full: wait for the host, up to 10 s
                self.sock.settimeout(10)
                self.sock.sendall(data[sent:])
                self.sock.setblocking(False)
        except OSError as error:
            self.closed = self.closed or f"write failed: {error!r}"

    def recv(self) -> bytes:
        """What one recv reads; b"" when nothing waits or the connection is gone (then `closed` says why)."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError as error:
            data, self.closed = b"", self.closed or f"read failed: {error!r}"
        if not data:
            self.closed = self.closed or "no close frame"
        return data

    def read_play(self) -> list[bytes]:
        """During play: the payloads of the text frames read by one recv."""
        data = self.recv()
        if not data:
            return []
        if self.partial:
            data, self.partial = self.partial + data, b""
        texts, pos, end = [], 0, len(data)
        while (size := frame_size(data, pos)) is not None and pos + size[0] + size[1] <= end:
            first, head = data[pos], pos + size[0]  # the host's frames are unmasked
            payload, pos = data[head : head + size[1]], head + size[1]
            if first == 0x81:
                texts.append(payload)
            elif first == 0x89:  # a WebSocket ping: answer it
                self.write(Frame(Opcode.PONG, payload).serialize(mask=True, extensions=[]))
            elif first == 0x88:
                close = Close.parse(payload) if payload else None
                self.closed = self.closed or (close.reason or str(close.code) if close else "closed")
        self.partial = data[pos:]
        return texts

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.flush()

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk and self.closed is None:
                self.write(chunk)

    def receive(self) -> list[dict]:
        """The messages read by one recv (the protocol answers WebSocket pings itself)."""
        data = self.recv()
        if not data:
            return []
        self.protocol.receive_data(data)
        messages = []
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.open = True
                self.send_text(
                    json.dumps(
                        {
                            "type": "join",
                            "schema": RELAY_SCHEMA,
                            "session_id": self.session[0],
                            "token": self.session[1],
                            "game": "main",
                        }
                    )
                )
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                messages.append(json.loads(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                rcvd = self.protocol.close_rcvd
                self.closed = self.closed or (rcvd.reason or str(rcvd.code) if rcvd else "closed")
        self.flush()
        return messages


class Players:
    """Connects the players, waits until every one is matched, then plays and measures."""

    def __init__(self, url: str, sessions: list[tuple[str, str]]) -> None:
        self.url = urlsplit(url)
        self.sessions = list(sessions)
        self.players: list[Player] = []
        self.selector = selectors.DefaultSelector()
        self.latencies: list[float] = []
        self.groups: dict[str, list[Player]] = {}

    def _connect(self, session: tuple[str, str]) -> Player:
        sock = socket.create_connection((self.url.hostname, self.url.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as browsers do
        sock.settimeout(10)  # writes give up after 10 s without progress; reads happen only when readable
        protocol = ClientProtocol(parse_uri(f"ws://{self.url.netloc}/api/v1/relay"), max_size=None)
        player = Player(session, sock, protocol)
        protocol.send_request(protocol.connect())
        player.flush()
        self.selector.register(sock, selectors.EVENT_READ, player)
        self.players.append(player)
        return player

    def match(self, limit_s: float) -> None:
        """Connect every session and wait until each is matched (or gone)."""
        deadline = time.monotonic() + limit_s
        pending = list(self.sessions)
        while time.monotonic() < deadline:
            handshaking = sum(1 for p in self.players if not p.open and p.closed is None)
            while pending and handshaking < CONNECTING_AT_ONCE:
                self._connect(pending.pop())
                handshaking += 1
            if not pending and all(p.seat is not None or p.closed is not None for p in self.players):
                break
            for player, messages in self._read(0.05):
                for message in messages:
                    if message["type"] == "ping":
                        player.send_text(json.dumps({"type": "pong", "t": message["t"]}))
                    elif message["type"] == "matched":
                        player.seat, player.group = message["seat"], message["group_id"]
                        self.groups.setdefault(player.group, []).append(player)
        else:
            raise TimeoutError(f"players not matched within {limit_s:.0f} s")
        for members in self.groups.values():
            if len(members) == 2:
                members[0].partner, members[1].partner = members[1], members[0]

    def prepare(self, fps: int, seconds: float) -> None:
        """Frame and mask every action a matched player will send, before play: a browser does this on its
        own machine, so the client spends its share of the cores on sending and reading only."""
        for player in self._playing():
            player.actions = [
                Frame(Opcode.TEXT, ACTION.format(step=step, agent=player.seat).encode()).serialize(
                    mask=True, extensions=[]
                )
                for step in range(1, int(seconds * fps) + 1)
            ]

    def play(self, fps: int) -> None:
        """Every prepared player sends one action per step, its steps spread over the frame period as
        independent browsers' are (not all at the same instant); latency is from a send to its partner's receipt."""
        playing = self._playing()
        if not playing:
            return
        steps = min(len(player.actions) for player in playing)
        slot = 1 / fps / len(playing)  # player i sends step k at start + ((k - 1) * players + i) * slot
        sends = steps * len(playing)
        for player in playing:
            player.sock.setblocking(False)
        start = time.perf_counter()
        end, sent = start + sends * slot + 0.5, 0
        select, latencies, loads = self.selector.select, self.latencies, json.loads
        while (now := time.perf_counter()) < end:
            while sent < sends and start + sent * slot <= now:
                player, step = playing[sent % len(playing)], sent // len(playing) + 1
                sent += 1
                if player.closed is None:
                    player.sent_at[step] = time.perf_counter()
                    player.write(player.actions[step - 1])
            wait = (start + sent * slot if sent < sends else end) - time.perf_counter()
            for key, _ in select(max(0.0, wait)):
                player = key.data
                texts = player.read_play()
                if player.closed is not None:
                    self.selector.unregister(player.sock)
                received = time.perf_counter()
                partner = player.partner
                for text in texts:
                    message = loads(text)
                    if message["type"] == "action" and partner is not None:
                        sent_at = partner.sent_at.pop(message["step"], None)
                        if sent_at is not None:
                            latencies.append((received - sent_at) * 1000)

    def _playing(self) -> list[Player]:
        return [player for player in self.players if player.seat is not None and player.closed is None]

    def _read(self, timeout: float) -> list[tuple[Player, list[dict]]]:
        read = []
        for key, _ in self.selector.select(timeout):
            player: Player = key.data
            messages = player.receive()
            if player.closed is not None:
                self.selector.unregister(player.sock)
            read.append((player, messages))
        return read

    def dropped(self) -> list[str]:
        return [player.closed for player in self.players if player.closed is not None]

    def close(self) -> None:
        for player in self.players:
            player.sock.close()
        self.selector.close()
