"""TEST DOUBLE — a loopback stand-in for Supabase Realtime's Broadcast, for tests and `make demo`.

Never a product feature, never deployed. It speaks the wire protocol the clients speak
(`@supabase/realtime-js` and the Python `realtime` package), written from their sources and from
supabase/realtime's (lib/realtime_web/channels/realtime_channel.ex, socket/v2_serializer.ex,
tenants/authorization.ex):

* `GET /realtime/v1/websocket?apikey=<jwt>&vsn=1.0.0|2.0.0`: a Phoenix socket. vsn 1.0.0 frames are
  JSON objects `{topic, event, payload, ref, join_ref}`; 2.0.0 frames are JSON arrays
  `[join_ref, ref, topic, event, payload]`, and a broadcast from the database goes out as the
  binary "user broadcast" frame (kind 4). A bad apikey is refused before the upgrade (403).
* `phoenix`/`heartbeat` is answered `phx_reply` ok.
* `phx_join` of `realtime:<topic>` with `config.private` and `access_token`: the JWT is verified
  (HS256, the PostgREST stand-in's secret, `role` and `exp` required); a private channel is
  authorised the way the real service does it: in one transaction, insert a probe message for the
  topic, become the joining user (`role`, `realtime.topic`, `request.jwt.claims`), read the probe
  back under RLS, roll back. Unreadable → `phx_reply` error "You do not have permissions to read
  from this Channel topic: <topic>".
* `access_token` on a joined channel: verified and authorised again; a refusal pushes a `system`
  error and `phx_close`, as the real channel shuts down.
* `phx_leave` is answered ok.
* What `realtime.send` writes is delivered to the channels joined to its topic (private rows to
  private channels only). The real service reads `realtime.messages` from logical replication;
  this one gets the committed ids from a NOTIFY (supabase_platform.sql), then reads the row.

`available = False` (`stop_serving()`) closes every socket and refuses new ones with 503, so a test
can take Realtime away while PostgREST keeps answering on the same base URL (`attach`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from worker.offline.postgrest import TEST_JWT_SECRET, JwtRejected, verify_jwt

NOTIFY_CHANNEL = "realtime_standin_messages"
USER_BROADCAST = 4  # RealtimeWeb.Socket.V2Serializer's @user_broadcast
API_ROLES = ("anon", "authenticated", "service_role")


@dataclass
class _Channel:
    topic: str  # as joined, e.g. "realtime:imagefill:progress"
    join_ref: str | None
    private: bool
    token: str


@dataclass(eq=False)  # hashed by identity: one per open websocket
class _Socket:
    ws: web.WebSocketResponse
    vsn: str
    channels: dict[str, _Channel] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> None:
        if self.vsn.startswith("2."):
            frame: str = json.dumps([join_ref, ref, topic, event, payload])
        else:
            frame = json.dumps(
                {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": join_ref}
            )
        async with self.lock:
            await self.ws.send_str(frame)

    async def send_broadcast(self, topic: str, event: str, payload: Any, message_id: str) -> None:
        meta = {"id": message_id}
        if not self.vsn.startswith("2."):
            data = {"type": "broadcast", "event": event, "payload": payload, "meta": meta}
            await self.send(None, None, topic, "broadcast", data)
            return
        topic_b, event_b = topic.encode(), event.encode()
        meta_b = json.dumps(meta, separators=(",", ":")).encode()
        frame = (
            struct.pack("!BBBBB", USER_BROADCAST, len(topic_b), len(event_b), len(meta_b), 1)
            + topic_b
            + event_b
            + meta_b
            + json.dumps(payload, separators=(",", ":")).encode()
        )
        async with self.lock:
            await self.ws.send_bytes(frame)


class Refused(Exception):
    """A join or token refresh the real service refuses; the message is its own text."""


@dataclass
class RealtimeStandIn:
    database_url: str  # a role that may write realtime.messages and become the API roles (postgres)
    jwt_secret: str = TEST_JWT_SECRET
    available: bool = True
    joins: list[tuple[str, str]] = field(default_factory=list)  # (topic, "ok" | reason)
    rows_seen: int = 0  # broadcast rows read after their commit
    delivered: int = 0  # frames sent to joined channels
    _sockets: set[_Socket] = field(default_factory=set)
    _pool: asyncpg.Pool | None = None
    _listener: asyncpg.Connection | None = None

    def attach(self, app: web.Application) -> web.Application:
        """Mounts the websocket route on `app` (the PostgREST stand-in's, so the panel's one
        Supabase URL reaches both, as on Supabase)."""
        app.router.add_get("/realtime/v1/websocket", self._websocket)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def stop_serving(self) -> None:
        """Realtime goes away: open sockets are closed, new ones refused."""
        self.available = False
        for sock in list(self._sockets):
            await sock.ws.close(code=1001)

    def resume_serving(self) -> None:
        self.available = True

    async def _open(self, app: web.Application) -> None:
        self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=4)
        self._listener = await asyncpg.connect(self.database_url)
        await self._listener.add_listener(NOTIFY_CHANNEL, self._notified)

    async def _close(self, app: web.Application) -> None:
        for sock in list(self._sockets):
            await sock.ws.close(code=1001)
        if self._listener is not None:
            await self._listener.close()
        if self._pool is not None:
            await self._pool.close()

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.available:
            return web.json_response({"message": "Realtime indisponível (stand-in parado)"}, status=503)
        try:
            verify_jwt(request.query.get("apikey", ""), self.jwt_secret)
        except JwtRejected as exc:
            return web.json_response({"message": f"Error parsing apikey: {exc}"}, status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = _Socket(ws, request.query.get("vsn", "1.0.0"))
        self._sockets.add(sock)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._handle(sock, msg.data)
                # Binary frames are client broadcasts (kind 3); nothing here sends them.
        finally:
            self._sockets.discard(sock)
        return ws

    async def _handle(self, sock: _Socket, text: str) -> None:
        data = json.loads(text)
        if isinstance(data, list):
            join_ref, ref, topic, event, payload = data
        else:
            join_ref, ref = data.get("join_ref"), data.get("ref")
            topic, event, payload = data["topic"], data["event"], data.get("payload") or {}
        if topic == "phoenix" and event == "heartbeat":
            await sock.send(None, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}})
        elif event == "phx_join":
            await self._join(sock, join_ref or ref, ref, topic, payload)
        elif event == "phx_leave":
            sock.channels.pop(topic, None)
            await sock.send(join_ref, ref, topic, "phx_reply", {"status": "ok", "response": {}})
        elif event == "access_token" and topic in sock.channels:
            await self._refresh(sock, sock.channels[topic], str(payload.get("access_token") or ""))

    async def _join(
        self, sock: _Socket, join_ref: str | None, ref: str | None, topic: str, payload: dict[str, Any]
    ) -> None:
        config = payload.get("config") or {}
        private = bool(config.get("private"))
        token = str(payload.get("access_token") or "")
        try:
            await self._authorise(topic, private, token)
        except Refused as exc:
            self.joins.append((topic, str(exc)))
            await sock.send(
                join_ref, ref, topic, "phx_reply", {"status": "error", "response": {"reason": str(exc)}}
            )
            return
        sock.channels[topic] = _Channel(topic, join_ref, private, token)
        self.joins.append((topic, "ok"))
        await sock.send(
            join_ref, ref, topic, "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}
        )

    async def _refresh(self, sock: _Socket, channel: _Channel, token: str) -> None:
        if not token or token == channel.token or token.startswith("sb_"):
            return
        try:
            await self._authorise(channel.topic, channel.private, token)
        except Refused as exc:
            sock.channels.pop(channel.topic, None)
            system = {"extension": "system", "status": "error", "message": str(exc), "channel": channel.topic}
            await sock.send(channel.join_ref, None, channel.topic, "system", system)
            await sock.send(channel.join_ref, None, channel.topic, "phx_close", {})
            return
        channel.token = token

    async def _authorise(self, topic: str, private: bool, token: str) -> None:
        try:
            claims = verify_jwt(token, self.jwt_secret)
        except JwtRejected as exc:
            raise Refused(f"Invalid JWT: {exc}") from None
        if "role" not in claims or "exp" not in claims:
            raise Refused("Fields `role` and `exp` are required in JWT")
        sub_topic = topic.removeprefix("realtime:")
        if private and not await self._can_read(sub_topic, claims):
            raise Refused(f"You do not have permissions to read from this Channel topic: {sub_topic}")

    async def _can_read(self, sub_topic: str, claims: dict[str, Any]) -> bool:
        """Realtime's read check (Authorization.get_read_authorizations): probe, become the user,
        read back under RLS, roll back."""
        role = str(claims.get("role"))
        if role not in API_ROLES:
            return False
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                probe = await conn.fetchval(
                    "insert into realtime.messages (topic, extension) values ($1, 'broadcast') returning id",
                    sub_topic,
                )
                await conn.execute(
                    "select set_config('role', $1, true), set_config('realtime.topic', $2, true),"
                    " set_config('request.jwt.claims', $3, true),"
                    " set_config('request.jwt.claim.sub', $4, true),"
                    " set_config('request.jwt.claim.role', $1, true)",
                    role,
                    sub_topic,
                    json.dumps(claims),
                    str(claims.get("sub") or ""),
                )
                try:
                    seen = await conn.fetchval("select count(*) from realtime.messages where id = $1", probe)
                except asyncpg.PostgresError:
                    return False  # an RLS policy that errors refuses the join (RlsPolicyError)
                return bool(seen)
            finally:
                await transaction.rollback()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        asyncio.get_running_loop().create_task(self._deliver(payload))

    async def _deliver(self, message_id: str) -> None:
        assert self._pool is not None
        row = await self._pool.fetchrow(
            "select topic, event, payload, private from realtime.messages where id = $1::uuid", message_id
        )
        self.rows_seen += 1
        if row is None or not self.available:
            return
        join_topic = f"realtime:{row['topic']}"
        payload = json.loads(row["payload"]) if row["payload"] is not None else {}
        for sock in list(self._sockets):
            channel = sock.channels.get(join_topic)
            if channel is None or channel.private != bool(row["private"]):
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await sock.send_broadcast(join_topic, str(row["event"]), payload, message_id)
                self.delivered += 1
