"""The ASGI application: the Artemis gateway for every path outside the control API.

Order of a call, as on a real gateway: (global latency) -> signature check -> quota ->
injected faults -> routing (unknown path: code 8) -> JSON body -> handler -> envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hcp_simulator.control import CONTROL_PREFIX, control_routes
from hcp_simulator.envelope import (
    NOT_SUPPORTED,
    QUOTA_EXCEEDED,
    RESPONSE_TOO_LONG,
    HcpError,
    envelope,
    error_body,
    success,
)
from hcp_simulator.faults import FaultRule
from hcp_simulator.handlers import ENDPOINTS, FACE_CHECK, Binary, Caller, find_endpoint
from hcp_simulator.params import Params
from hcp_simulator.simulator import Simulator

log = logging.getLogger("hcp_simulator.gateway")

JSON_TYPE = "application/json;charset=UTF-8"
ARTEMIS_PREFIX = "/artemis"
HTTP_ERROR_TEXT = {
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


def create_app(sim: Simulator) -> ASGIApp:
    """The whole server: /simulator/v1/... goes to the control API (a Starlette app, which
    also runs the lifespan), everything else straight to the gateway - no router or
    middleware on the hot path."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    gateway = Gateway(sim)
    routes = control_routes() if sim.config.control_api else []
    routes.append(Route("/{path:path}", gateway))
    control = Starlette(routes=routes, lifespan=lifespan)
    control.state.sim = sim
    control_enabled = sim.config.control_api

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not (
            control_enabled and scope["path"].startswith(CONTROL_PREFIX)
        ):
            await gateway(scope, receive, send)
        else:
            await control(scope, receive, send)

    return app


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _json(body: bytes, status: int = 200) -> Reply:
    return Reply(status, body)


def _http_error(status: int, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Reply:
    return Reply(status, HTTP_ERROR_TEXT.get(status, "Error").encode(), "text/plain", headers)


@dataclass(frozen=True)
class Call:
    """What the gateway needs from one HTTP request."""

    method: str
    path: str
    raw_path: str
    query: str
    headers: dict[str, str]  # lower-case names, first value wins
    body: bytes
    client_ip: str

    @classmethod
    async def read(cls, scope: Scope, receive: Receive) -> Call:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
        path: str = scope["path"]
        client = scope.get("client")
        return cls(
            method=scope["method"],
            path=path,
            raw_path=(scope.get("raw_path") or path.encode()).decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=b"".join(chunks),
            client_ip=client[0] if client else "",
        )


class Gateway:
    """A raw ASGI endpoint (fast, and a fault can reset the connection with no response)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim = self.sim
        if sim.config.latency_ms:
            await asyncio.sleep(sim.config.latency_ms / 1000)
        call = await Call.read(scope, receive)
        reply = await self.handle(sim, call, receive)
        if reply is not None:
            await reply.send(send)

    async def handle(self, sim: Simulator, call: Call, receive: Receive) -> Reply | None:
        rejection = sim.verifier.verify(
            call.method, call.headers, call.raw_path, call.query, call.body
        )
        if rejection is not None:
            log.info("rejected %s %s: %s", call.method, call.raw_path, rejection.reason)
            return _json(envelope(rejection.code, rejection.msg), sim.config.auth_failure_status)
        if not sim.faults.allow_call():
            log.info("quota exceeded: %s", call.raw_path)
            return _json(envelope(QUOTA_EXCEEDED, "The maximum number of API calls is reached."))
        path = call.path
        api_path = path.removeprefix(ARTEMIS_PREFIX) if path.startswith("/artemis/") else ""
        payload = _json_object(call.body)
        fault = sim.faults.take(api_path, payload) if sim.faults.rules else None
        if fault is not None:
            log.info("fault %s (rule %s) on a call", fault.kind, fault.rule_id)
            early = await self._fault_reply(sim, fault, api_path, receive)
            if early is not None or fault.kind == "drop":
                return early
        sim.catch_up()
        reply = self._dispatch(sim, call, api_path, payload)
        if fault is not None and fault.kind == "lost_response":
            # The work is done; the client never learns it.
            if "status" in fault.params:
                return _http_error(fault.params["status"])
            await _abort_connection(receive)
            return None
        return reply

    async def _fault_reply(
        self, sim: Simulator, fault: FaultRule, api_path: str, receive: Receive
    ) -> Reply | None:
        """What to answer instead of the call, or None to go on with it."""
        params = fault.params
        if fault.kind == "latency":
            await asyncio.sleep(params["ms"] / 1000)
        elif fault.kind == "code":
            numeric = _numeric_code(sim, api_path)
            return _json(envelope(params["code"], params["msg"], numeric=numeric))
        elif fault.kind == "page_limit":
            return _json(envelope(RESPONSE_TOO_LONG, "The response is too long."))
        elif fault.kind == "http":
            extra: tuple[tuple[bytes, bytes], ...] = ()
            if "retryAfter" in params:
                extra = ((b"retry-after", str(params["retryAfter"]).encode()),)
            return _http_error(params["status"], extra)
        elif fault.kind == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sim.faults.cleared.wait(), params["seconds"])
            return _http_error(504)
        elif fault.kind == "drop":
            await _abort_connection(receive)
        return None

    def _dispatch(
        self, sim: Simulator, call: Call, api_path: str, payload: dict[str, Any] | None
    ) -> Reply:
        endpoint = find_endpoint(api_path)
        if api_path == FACE_CHECK and sim.quirks.face_check_absent:
            return _http_error(404)  # a version without faceCheck (quirk faceCheckAbsent)
        if endpoint is None or call.method != "POST":
            return _json(envelope(NOT_SUPPORTED, "This product version is not supported."))
        numeric = _numeric_code(sim, api_path)
        if payload is None:
            return _json(error_body(HcpError.bad_parameter("body"), numeric=numeric))
        user_id = call.headers.get("userid")
        if user_id is not None and not 1 <= len(user_id) <= 32:
            return _json(error_body(HcpError.bad_parameter("userId"), numeric=numeric))
        try:
            data = endpoint.handler(sim, Params(payload), Caller(call.client_ip, user_id))
        except HcpError as error:
            log.debug("%s -> %s %s", api_path, error.code, error.msg)
            return _json(error_body(error, numeric=numeric))
        if endpoint.mutates:
            sim.mark_dirty()
        if isinstance(data, Binary):
            return Reply(200, data.content, data.media_type)
        return _json(success(data, numeric=numeric))


def _numeric_code(sim: Simulator, api_path: str) -> bool:
    """Whether this path's envelope carries a numeric code (eventService, or the quirk)."""
    endpoint = ENDPOINTS.get(api_path)
    return (endpoint is not None and endpoint.numeric_code) or sim.quirks.numeric_code(api_path)


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The request's JSON object ({} for an empty body), or None if it is not one."""
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


async def _abort_connection(receive: Receive) -> None:
    """Reset the TCP connection under this request (RST, no HTTP response).

    ASGI has no such operation; uvicorn's `receive` is a bound method of its per-request
    cycle object, which holds the transport. SO_LINGER 0 turns the close into a reset."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot reach the connection to drop it (not running under uvicorn?)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let uvicorn notice the loss, so it does not try to answer a 500 on a dead connection.
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
