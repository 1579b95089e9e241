"""TEST DOUBLE — a loopback stand-in for the two Supabase endpoints the panel's Next.js code calls.

Never a product feature, never deployed: on Supabase these are PostgREST (`POST /rest/v1/rpc/<fn>`)
and GoTrue (`/auth/v1/*`), which cannot be installed on these machines. The tests and `make demo`
run the real `web/` app against this, so it behaves as those servers do for what the panel uses:

* `POST /rest/v1/rpc/<fn>`: verifies the HS256 JWT in `Authorization: Bearer` (the anon key when
  nobody is signed in), then, in ONE transaction, `set_config('request.jwt.claims', <claims>, true)`
  and `set local role <the JWT's role>` and runs the real SQL function of the `public` schema with the
  JSON body as named arguments (cast to the function's own argument types, as PostgREST does with
  `json_to_record`). A set-returning function answers a JSON array, a scalar one its value.
* SQL errors become PostgREST's status codes and error JSON `{code, message, details, hint}`
  (table in `postgrest_status`); its own errors use PostgREST's `PGRST*` codes.
* `GET /auth/v1/user` returns the user of a valid JWT (what `supabase.auth.getUser()` asks);
  `POST /auth/v1/token?grant_type=password` signs in one of the configured demo/test users;
  `POST /auth/v1/logout` answers 204.

The database connection logs in as `authenticator` (NOINHERIT, member of the API roles), exactly
as PostgREST does, so a function runs with the grants of the caller's role and nothing more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

TEST_JWT_SECRET = "imagefill-offline-jwt-secret-not-a-secret-at-least-32-chars"
API_ROLES = ("anon", "authenticated", "service_role")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_jwt(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    """An HS256 JWT as GoTrue issues them (tests and the demo sign users in with these)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


class JwtRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def verify_jwt(token: str, secret: str) -> dict[str, Any]:
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, json.JSONDecodeError) as exc:
        raise JwtRejected("PGRST301", "Expected 3 parts in JWT; got a malformed token") from exc
    if header.get("alg") != "HS256":
        raise JwtRejected("PGRST301", "Wrong or unsupported encoding algorithm")
    expected = hmac.new(secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise JwtRejected("PGRST301", "JWSError JWSInvalidSignature")
    if not isinstance(claims, dict):
        raise JwtRejected("PGRST301", "JWT claims must be an object")
    if isinstance(claims.get("exp"), int | float) and claims["exp"] < time.time():
        raise JwtRejected("PGRST303", "JWT expired")
    return claims


def postgrest_status(sqlstate: str, authenticated: bool) -> int:
    """PostgREST's mapping of SQLSTATE to HTTP status (docs.postgrest.org, "Errors")."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "P0001": 400,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
    }
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate in exact:
        return exact[sqlstate]
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])  # PostgREST's custom status codes: RAISE ... USING ERRCODE = 'PT404'
    return prefixes.get(sqlstate[:2], 400)


@dataclass(frozen=True)
class StandInUser:
    id: str
    email: str
    password: str


@dataclass
class PostgrestStandIn:
    database_url: str  # as `authenticator`
    jwt_secret: str = TEST_JWT_SECRET
    users: list[StandInUser] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (function, role) for assertions
    _pool: asyncpg.Pool | None = None

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/rest/v1/rpc/{fn}", self._rpc)
        self.app.router.add_get("/auth/v1/user", self._user)
        self.app.router.add_post("/auth/v1/token", self._token)
        self.app.router.add_post("/auth/v1/logout", self._logout)
        self.app.on_startup.append(self._open)
        self.app.on_cleanup.append(self._close)

    @property
    def anon_key(self) -> str:
        return mint_jwt({"role": "anon", "iss": "supabase-standin"}, self.jwt_secret)

    def session_for(
        self, user_id: str, email: str, *, role: str = "authenticated", ttl: int = 86400
    ) -> dict[str, Any]:
        """A GoTrue session object (what supabase-js stores in the `sb-<ref>-auth-token` cookie)."""
        now = int(time.time())
        token = mint_jwt(
            {
                "sub": user_id,
                "email": email,
                "role": role,
                "aud": "authenticated",
                "iat": now,
                "exp": now + ttl,
            },
            self.jwt_secret,
        )
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ttl,
            "expires_at": now + ttl,
            "refresh_token": uuid.uuid4().hex,
            "user": self._user_json({"sub": user_id, "email": email, "role": role}),
        }

    async def _open(self, app: web.Application) -> None:
        self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=4)

    async def _close(self, app: web.Application) -> None:
        if self._pool is not None:
            await self._pool.close()

    @staticmethod
    def _error(
        status: int, code: str, message: str, details: str | None = None, hint: str | None = None
    ) -> web.Response:
        return web.json_response(
            {"code": code, "details": details, "hint": hint, "message": message}, status=status
        )

    def _claims(self, request: web.Request) -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            token = request.headers.get("apikey", "")
        if not token:
            # PostgREST without a token runs as its anonymous role.
            return {"role": "anon"}
        return verify_jwt(token, self.jwt_secret)

    async def _rpc(self, request: web.Request) -> web.Response:
        fn = request.match_info["fn"]
        try:
            claims = self._claims(request)
        except JwtRejected as exc:
            return self._error(401, exc.code, str(exc))
        role = str(claims.get("role", "anon"))
        if role not in API_ROLES:
            return self._error(401, "PGRST301", f'role "{role}" does not exist')
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return self._error(400, "PGRST102", "Empty or invalid json")
        if not isinstance(body, dict):
            return self._error(400, "PGRST102", "Empty or invalid json")
        self.calls.append((fn, role))
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            signature = await self._function(conn, fn, sorted(body))
            if signature is None:
                return self._error(
                    404,
                    "PGRST202",
                    f"Could not find the public.{fn}({', '.join(sorted(body))}) function in the schema cache",
                    hint="If a new function was created in the database with this name and parameters,"
                    " try reloading the schema cache.",
                )
            all_types, returns_set = signature
            arg_types = {name: all_types[name] for name in sorted(body)}
            try:
                async with conn.transaction():
                    await conn.execute(
                        "select set_config('request.jwt.claims', $1, true)", json.dumps(claims)
                    )
                    await conn.execute(f'set local role "{role}"')
                    result = await conn.fetchval(self._call_sql(fn, arg_types, returns_set), json.dumps(body))
            except asyncpg.PostgresError as exc:
                sqlstate = str(getattr(exc, "sqlstate", "") or "XX000")
                return self._error(
                    postgrest_status(sqlstate, role != "anon"),
                    sqlstate,
                    str(getattr(exc, "message", exc)),
                    getattr(exc, "detail", None),
                    getattr(exc, "hint", None),
                )
        return web.Response(text=result if result is not None else "null", content_type="application/json")

    @staticmethod
    async def _function(
        conn: asyncpg.Connection, fn: str, arg_names: list[str]
    ) -> tuple[dict[str, str], bool] | None:
        """The public function called `fn` whose named arguments cover the body (PostgREST picks
        the overload the same way); None when there is none."""
        rows = await conn.fetch(
            """
            select p.proretset,
                   coalesce(p.proargnames[1:p.pronargs], '{}') as names,
                   array(select format_type(t, null) from unnest(p.proargtypes) t) as types,
                   p.pronargs - p.pronargdefaults as required
              from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'public' and p.proname = $1
            """,
            fn,
        )
        for row in rows:
            names = list(row["names"])
            if set(arg_names) <= set(names) and set(names[: row["required"]]) <= set(arg_names):
                return dict(zip(names, row["types"], strict=True)), bool(row["proretset"])
        return None

    @staticmethod
    def _call_sql(fn: str, arg_types: dict[str, str], returns_set: bool) -> str:
        """Only the arguments the body names are passed (the others keep their SQL defaults); the
        names and types come from pg_proc, never from the request."""

        def quote(name: str) -> str:
            return '"' + name.replace('"', '""') + '"'

        record = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in arg_types.items())
        args = ", ".join(f"{quote(name)} => _args.{quote(name)}" for name in arg_types)
        call = f"public.{quote(fn)}({args})"
        # json_to_record on '{}' still yields one row, so a call without arguments works the same.
        source = f"json_to_record($1::json) as _args({record})" if arg_types else "(select $1::json) as _args"
        if returns_set:
            return f"select coalesce(json_agg(_r), '[]')::text from {source} cross join lateral {call} as _r"
        return f"select to_json({call})::text from {source}"

    async def _user(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        try:
            claims = verify_jwt(token, self.jwt_secret)
        except JwtRejected as exc:
            return web.json_response({"code": 403, "error_code": "bad_jwt", "msg": str(exc)}, status=403)
        if not claims.get("sub"):
            return web.json_response(
                {"code": 403, "error_code": "bad_jwt", "msg": "invalid claim: missing sub claim"}, status=403
            )
        return web.json_response(self._user_json(claims))

    @staticmethod
    def _user_json(claims: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": claims["sub"],
            "aud": "authenticated",
            "role": claims.get("role", "authenticated"),
            "email": claims.get("email", ""),
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "created_at": "2026-01-01T00:00:00Z",
        }

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("grant_type") != "password":
            return web.json_response(
                {"code": 400, "error_code": "validation_failed", "msg": "unsupported grant_type"}, status=400
            )
        body = await request.json()
        for user in self.users:
            if body.get("email") == user.email and body.get("password") == user.password:
                return web.json_response(self.session_for(user.id, user.email))
        return web.json_response(
            {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}, status=400
        )

    async def _logout(self, request: web.Request) -> web.Response:
        return web.Response(status=204)
