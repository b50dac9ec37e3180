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
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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
from hcp_simulator.handlers import ENDPOINTS, Binary, Caller
from hcp_simulator.params import Params
from hcp_simulator.simulator import Simulator

log = logging.getLogger("hcp_simulator.gateway")

JSON_TYPE = "application/json;charset=UTF-8"
ARTEMIS_PREFIX = "/artemis"
HTTP_ERROR_TEXT = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


def create_app(sim: Simulator) -> Starlette:
    from hcp_simulator.control import control_routes

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    routes = control_routes() if sim.config.control_api else []
    routes.append(Route("/{path:path}", Gateway()))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return app


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON_TYPE)


class Gateway:
    """A raw ASGI endpoint, so that a fault can reset the connection with no response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        sim: Simulator = request.app.state.sim
        response = await self.handle(sim, request, receive)
        if response is not None:
            await response(scope, receive, send)

    async def handle(self, sim: Simulator, request: Request, receive: Receive) -> Response | None:
        config = sim.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        body = await request.body()
        headers: dict[str, str] = {}
        for raw_name, raw_value in request.scope["headers"]:
            headers.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
        raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        rejection = sim.verifier.verify(request.method, headers, raw_path, query, body)
        if rejection is not None:
            log.info("rejected %s %s: %s", request.method, raw_path, rejection.reason)
            return _json(envelope(rejection.code, rejection.msg), config.auth_failure_status)
        if not sim.faults.allow_call():
            log.info("quota exceeded: %s", raw_path)
            return _json(envelope(QUOTA_EXCEEDED, "The maximum number of API calls is reached."))
        path = request.url.path
        api_path = path.removeprefix(ARTEMIS_PREFIX) if path.startswith("/artemis/") else ""
        payload = _json_object(body)
        fault = sim.faults.take(api_path, payload) if sim.faults.rules else None
        if fault is not None:
            log.info("fault %s (rule %s) on a call", fault.kind, fault.rule_id)
            early = await self._fault_response(sim, fault, receive)
            if early is not None or fault.kind == "drop":
                return early
        sim.catch_up()
        response = self._dispatch(sim, request, api_path, payload, headers)
        if fault is not None and fault.kind == "lost_response":
            # The work is done; the client never learns it.
            if "status" in fault.params:
                return _http_error(fault.params["status"])
            await _abort_connection(receive)
            return None
        return response

    async def _fault_response(
        self, sim: Simulator, fault: FaultRule, receive: Receive
    ) -> Response | None:
        """What to answer instead of the call, or None to go on with it."""
        params = fault.params
        if fault.kind == "latency":
            await asyncio.sleep(params["ms"] / 1000)
        elif fault.kind == "code":
            return _json(envelope(params["code"], params["msg"]))
        elif fault.kind == "page_limit":
            return _json(envelope(RESPONSE_TOO_LONG, "The response is too long."))
        elif fault.kind == "http":
            response = _http_error(params["status"])
            if "retryAfter" in params:
                response.headers["Retry-After"] = str(params["retryAfter"])
            return response
        elif fault.kind == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sim.faults.cleared.wait(), params["seconds"])
            return _http_error(504)
        elif fault.kind == "drop":
            await _abort_connection(receive)
        return None

    def _dispatch(
        self,
        sim: Simulator,
        request: Request,
        api_path: str,
        payload: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> Response:
        endpoint = ENDPOINTS.get(api_path)
        if endpoint is None or request.method != "POST":
            return _json(envelope(NOT_SUPPORTED, "This product version is not supported."))
        numeric = endpoint.numeric_code or sim.quirks.numeric_code(api_path)
        if payload is None:
            return _json(error_body(HcpError.bad_parameter("body"), numeric=numeric))
        user_id = headers.get("userid")
        if user_id is not None and not 1 <= len(user_id) <= 32:
            return _json(error_body(HcpError.bad_parameter("userId"), numeric=numeric))
        client = request.client.host if request.client else ""
        try:
            data = endpoint.handler(sim, Params(payload), Caller(client, user_id))
        except HcpError as error:
            log.debug("%s -> %s %s", api_path, error.code, error.msg)
            return _json(error_body(error, numeric=numeric))
        if endpoint.mutates:
            sim.mark_dirty()
        if isinstance(data, Binary):
            return Response(data.content, media_type=data.media_type)
        return _json(success(data, numeric=numeric))


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The request's JSON object ({} for an empty body), or None if it is not one."""
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _http_error(status: int) -> Response:
    return Response(
        HTTP_ERROR_TEXT.get(status, "Error"), status_code=status, media_type="text/plain"
    )


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
