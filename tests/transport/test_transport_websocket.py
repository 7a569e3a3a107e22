"""The picows transport: a real server and real clients on 127.0.0.1, port 0.

picows clients (our own ``connect``) check the OCPP-level behaviour; the ``websockets`` library is
the independent client where we need to see the raw handshake or send fragments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ocppd.protocol import OcppVersion
from ocppd.transport.websocket import (
    BadIdentity,
    HandshakeRefused,
    Link,
    OcppServer,
    ServerOptions,
    choose_version,
    connect,
    identity_from_path,
)

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
GUARD = 5.0  # only turns a hang into a failure


@dataclass
class EchoApp:
    """A LinkApp that echoes every message back with a prefix, and records what happened."""

    refuse: dict[str, int] = field(default_factory=dict)
    admitted: list[tuple[str, OcppVersion, str | None]] = field(default_factory=list)
    opened_links: list[Link] = field(default_factory=list)
    closed_links: list[Link] = field(default_factory=list)
    received: list[tuple[str, bytes]] = field(default_factory=list)

    def admit(
        self, identity: str, version: OcppVersion, headers: Mapping[str, str], remote: str, peer: object = None
    ) -> int | None:
        self.admitted.append((identity, version, headers.get("Authorization")))
        return self.refuse.get(identity)

    def opened(self, link: Link):
        self.opened_links.append(link)

        def receive(data: bytes) -> None:
            self.received.append((link.identity, data))
            link.send("echo:" + bytes(data).decode())

        return receive

    def closed(self, link: Link) -> None:
        self.closed_links.append(link)


@pytest.fixture
async def server():
    servers: list[OcppServer] = []

    async def start(app: EchoApp | None = None, **options) -> OcppServer:
        srv = OcppServer(app or EchoApp(), ServerOptions(host="127.0.0.1", port=0, **options))
        await srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        await asyncio.wait_for(srv.stop(), GUARD)


class Inbox:
    """Client-side receiver: collects messages, lets a test await the next one."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()

    def __call__(self, link: Link):
        return self.messages.put_nowait

    async def next(self) -> str:
        return bytes(await asyncio.wait_for(self.messages.get(), GUARD)).decode()


def url(srv: OcppServer, identity: str = "CP-1") -> str:
    return f"ws://127.0.0.1:{srv.port}/ocpp/{identity}"


async def until(predicate, what: str = "condition") -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), GUARD)
    except TimeoutError:
        pytest.fail(f"{what} never happened")


# ------------------------------------------------------------------ pure helpers
@pytest.mark.parametrize(
    ("path", "identity"),
    [
        (b"/ocpp/CP-1", "CP-1"),
        (b"/ocpp/CP%201", "CP 1"),
        (b"/ocpp/CP-1/", "CP-1"),
        (b"/CP-1?token=x", "CP-1"),
        (b"/a/b/c/RDAM%2F123", "RDAM/123"),
        (b"/ocpp/", "ocpp"),
        (b"/ocpp/a*-_=:+|@.~", "a*-_=:+|@.~"),
    ],
)
def test_identity_from_path(path, identity):
    assert identity_from_path(path) == identity


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (b"/", "no station identity"),
        (b"", "no station identity"),
        (b"/ocpp/%00bad", "U+0000 at position 0"),
        (b"/ocpp/%FF", "not UTF-8"),  # refused with 400, not a 500 from an exception
        (b"/ocpp/" + b"x" * 256, "longer than 255"),
        (b"/ocpp/SP1%E2%80%8B", "U+200B at position 3"),  # zero-width space
        (b"/ocpp/%E2%80%AESP1", "U+202E at position 0"),  # right-to-left override
        (b"/ocpp/%D0%A1P1", "U+0421"),  # Cyrillic Es, looks like C
        (b"/ocpp/%C3%A9t%C3%A9", "U+00E9"),
        (b"/ocpp/SP1%20", "starts or ends with a space"),
    ],
)
def test_identity_from_path_refuses_what_is_not_printable_ascii(path, reason):
    with pytest.raises(BadIdentity, match=reason.replace("+", r"\+")):
        identity_from_path(path)


def test_choose_version_follows_server_preference():
    preference = [V21, V201, V16]
    assert choose_version("ocpp1.6, ocpp2.0.1", preference) is V201
    assert choose_version("ocpp1.6,ocpp2.1,ocpp2.0.1", preference) is V21
    assert choose_version("OCPP1.6", preference) is V16
    assert choose_version("ocpp1.6, ocpp2.0.1", [V16, V201]) is V16
    assert choose_version("ocpp1.5, ocpp2.0", preference) is None
    assert choose_version("", preference) is None
    assert choose_version(None, preference) is None


# ------------------------------------------------------------------ subprotocol negotiation
@pytest.mark.parametrize(
    ("offered", "preference", "expected"),
    [
        ([V16, V201, V21], [V21, V201, V16], V21),
        ([V16, V201], [V21, V201, V16], V201),
        ([V16, V201, V21], [V16, V201], V16),
        ([V16], [V21, V201, V16], V16),
    ],
)
async def test_subprotocol_negotiation_in_server_preference_order(server, offered, preference, expected):
    app = EchoApp()
    srv = await server(app, versions=preference)
    inbox = Inbox()
    link = await connect(url(srv), offered, inbox)
    try:
        assert link.version is expected
        assert app.admitted[0][:2] == ("CP-1", expected)
        await until(lambda: app.opened_links, "server side open")
        assert app.opened_links[0].version is expected
        assert srv.links["CP-1"] is app.opened_links[0]
    finally:
        link.close()


async def test_no_common_subprotocol_is_refused_before_the_upgrade(server):
    """OCA TC_B_58 / TC_088: the CSMS rejects the connection and does not upgrade."""
    app = EchoApp()
    srv = await server(app, versions=[V201])
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD):
            pass
    assert info.value.response.status_code == 400
    assert b"no supported OCPP subprotocol" in info.value.response.body
    assert app.admitted == [] and app.opened_links == []  # never reached the application
    assert srv.links == {}


async def test_no_common_subprotocol_our_client_raises(server):
    srv = await server(EchoApp(), versions=[V201])
    with pytest.raises(HandshakeRefused) as info:
        await connect(url(srv), [V16], Inbox())
    assert info.value.status == 400  # refused before the upgrade


async def test_no_subprotocol_offered_at_all(server):
    srv = await server(EchoApp())
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url(srv), open_timeout=GUARD):
            pass
    assert info.value.response.status_code == 400


# ------------------------------------------------------------------ identity and admission
async def test_identity_is_percent_decoded(server):
    app = EchoApp()
    srv = await server(app)
    inbox = Inbox()
    link = await connect(url(srv, "CP%201"), [V16], inbox)
    try:
        assert link.identity == "CP 1"
        await until(lambda: app.opened_links, "server side open")
        assert app.opened_links[0].identity == "CP 1" and "CP 1" in srv.links
        link.send("hello")
        assert await inbox.next() == "echo:hello"
        assert app.received == [("CP 1", b"hello")]
    finally:
        link.close()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_admit_refusal_is_an_http_status(server, status):
    app = EchoApp(refuse={"CP-X": status})
    srv = await server(app)
    with pytest.raises(HandshakeRefused) as info:
        await connect(url(srv, "CP-X"), [V201], Inbox(), basic_auth=("CP-X", "wrong"))
    assert info.value.status == status
    assert app.admitted[0][2] is not None and app.admitted[0][2].startswith("Basic ")
    assert app.opened_links == [] and srv.links == {}


async def test_admit_refusal_seen_by_websockets_client(server):
    srv = await server(EchoApp(refuse={"CP-X": 401}))
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(url(srv, "CP-X"), subprotocols=["ocpp1.6"], open_timeout=GUARD)
    assert info.value.response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/ocpp/%FF", "/ocpp/%00x"])
async def test_missing_or_bad_identity_is_bad_request(server, path):
    srv = await server(EchoApp())
    with pytest.raises(InvalidStatus) as info:
        await websockets.connect(f"ws://127.0.0.1:{srv.port}{path}", subprotocols=["ocpp1.6"], open_timeout=GUARD)
    assert info.value.response.status_code == 400


# ------------------------------------------------------------------ connection lifecycle
async def test_echo_and_close_notify_both_sides(server):
    app = EchoApp()
    srv = await server(app)
    inbox = Inbox()
    link = await connect(url(srv), [V201], inbox)
    await until(lambda: app.opened_links, "server side open")
    for text in ['[2,"1","Heartbeat",{}]', "é✓", "x" * 5000]:
        link.send(text)
        assert await inbox.next() == "echo:" + text
    link.close()
    await asyncio.wait_for(link.wait_closed(), GUARD)
    assert not link.is_open
    await until(lambda: app.closed_links, "server side close")
    assert srv.links == {}
    link.send("after close")  # silently ignored


async def test_second_connection_replaces_the_first(server):
    app = EchoApp()
    srv = await server(app)
    first_inbox, second_inbox = Inbox(), Inbox()
    first = await connect(url(srv), [V16], first_inbox)
    await until(lambda: len(app.opened_links) == 1, "first open")
    second = await connect(url(srv), [V16], second_inbox)
    try:
        await asyncio.wait_for(first.wait_closed(), GUARD)  # the server closed the old one
        assert not first.is_open and second.is_open
        await until(lambda: len(app.closed_links) == 1, "old link closed on the server")
        assert app.closed_links[0] is app.opened_links[0]
        assert srv.links["CP-1"] is app.opened_links[1]  # the old close did not evict the new link
        second.send("still here")
        assert await second_inbox.next() == "echo:still here"
    finally:
        second.close()


async def test_second_connection_replaces_the_first_websockets_client(server):
    srv = await server(EchoApp())
    async with (
        websockets.connect(url(srv), subprotocols=["ocpp2.0.1"], open_timeout=GUARD) as first,
        websockets.connect(url(srv), subprotocols=["ocpp2.0.1"], open_timeout=GUARD) as second,  # in order
    ):
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(first.recv(), GUARD)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        await second.send("hi")
        assert await asyncio.wait_for(second.recv(), GUARD) == "echo:hi"


async def test_frame_over_max_size_closes_that_connection_only(server):
    app = EchoApp()
    srv = await server(app, max_frame_size=1024)
    big_inbox, other_inbox = Inbox(), Inbox()
    big = await connect(url(srv, "BIG"), [V16], big_inbox)
    other = await connect(url(srv, "OTHER"), [V16], other_inbox)
    try:
        big.send("x" * 2048)
        await asyncio.wait_for(big.wait_closed(), GUARD)
        assert ("BIG", b"x" * 2048) not in app.received
        other.send("x" * 1000)
        assert await other_inbox.next() == "echo:" + "x" * 1000
        again = await connect(url(srv, "BIG"), [V16], Inbox())  # the server still accepts connections
        again.close()
    finally:
        other.close()


async def test_fragmented_message_is_reassembled(server):
    app = EchoApp()
    srv = await server(app)
    async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD) as ws:
        await ws.send(['[2,"42",', '"Heartbeat",', "{}]"])  # one text message in three frames
        assert await asyncio.wait_for(ws.recv(), GUARD) == 'echo:[2,"42","Heartbeat",{}]'
        await ws.send("plain")
        assert await asyncio.wait_for(ws.recv(), GUARD) == "echo:plain"
    assert [data for _identity, data in app.received] == [b'[2,"42","Heartbeat",{}]', b"plain"]


async def test_fragmented_message_over_max_size_closes_the_connection(server):
    """max_frame_size bounds the reassembled message, not only each frame: no unbounded buffering."""
    app = EchoApp()
    srv = await server(app, max_frame_size=1024)
    async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD) as ws:
        await ws.send(["x" * 1000, "y" * 1000])
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), GUARD)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert app.received == []
    async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD) as ws:
        await ws.send(["x" * 500, "y" * 500])  # within the limit in total
        assert await asyncio.wait_for(ws.recv(), GUARD) == "echo:" + "x" * 500 + "y" * 500


async def test_fragmented_message_with_ping_in_between(server):
    srv = await server(EchoApp())
    async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD) as ws:

        async def fragments():
            yield "abc"
            await ws.ping()  # a control frame may come between fragments
            yield "def"

        await ws.send(fragments())
        assert await asyncio.wait_for(ws.recv(), GUARD) == "echo:abcdef"


async def test_binary_message_is_read_as_text(server):
    srv = await server(EchoApp())
    async with websockets.connect(url(srv), subprotocols=["ocpp1.6"], open_timeout=GUARD) as ws:
        await ws.send(b'[3,"1",{}]')
        assert await asyncio.wait_for(ws.recv(), GUARD) == 'echo:[3,"1",{}]'


async def test_receiver_exception_does_not_drop_the_connection(server):
    class Fragile(EchoApp):
        def opened(self, link: Link):
            echo = super().opened(link)

            def receive(data: bytes) -> None:
                if data == b"boom":
                    raise RuntimeError("boom")
                echo(data)

            return receive

    srv = await server(Fragile())
    inbox = Inbox()
    link = await connect(url(srv), [V16], inbox)
    try:
        link.send("boom")
        link.send("fine")
        assert await inbox.next() == "echo:fine"
        assert link.is_open
    finally:
        link.close()


async def test_server_stop_closes_links(server):
    app = EchoApp()
    srv = await server(app)
    link = await connect(url(srv), [V16], Inbox())
    await until(lambda: app.opened_links, "server side open")
    await asyncio.wait_for(srv.stop(), GUARD)
    await asyncio.wait_for(link.wait_closed(), GUARD)


# ------------------------------------------------------------------ keep-alive
async def test_ping_keep_alive_does_not_break_anything(server):
    app = EchoApp()
    srv = await server(app, ping_interval=0.05, ping_timeout=1.0)
    inbox = Inbox()
    link = await connect(url(srv), [V201], inbox, ping_interval=0.05)
    try:
        for index in range(5):
            await asyncio.sleep(0.06)  # idle long enough for both sides to ping
            link.send(f"m{index}")
            assert await inbox.next() == f"echo:m{index}"
        assert link.is_open and srv.links["CP-1"].is_open
    finally:
        link.close()


async def test_ping_timeout_longer_than_interval_is_accepted(server):
    """picows asserts reply timeout <= idle timeout; a config with a long timeout must still connect."""
    app = EchoApp()
    srv = await server(app, ping_interval=0.05, ping_timeout=30.0)
    inbox = Inbox()
    link = await connect(url(srv), [V16], inbox, ping_interval=0.05)  # below picows' 10 s client default
    try:
        await asyncio.sleep(0.1)
        link.send("alive")
        assert await inbox.next() == "echo:alive"
    finally:
        link.close()


async def test_ping_from_websockets_client_is_answered(server):
    srv = await server(EchoApp(), ping_interval=0)
    async with websockets.connect(url(srv), subprotocols=["ocpp2.1"], open_timeout=GUARD) as ws:
        assert ws.subprotocol == "ocpp2.1"
        pong = await ws.ping()
        await asyncio.wait_for(pong, GUARD)
