"""Faults on demand (control API) and the call quota.

A rule matches OpenAPI calls by path glob (the path after /artemis, e.g.
`/api/resource/v1/person/*`) and applies to the next `count` matching calls, or until the
rules are cleared when `count` is null. The first matching rule wins.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

# Kinds that act on a matching call, and what they do:
#   latency        wait `ms` milliseconds, then answer normally
#   code           answer the envelope `{code, msg}` without doing anything
#   http           answer HTTP `status` (e.g. 429, 500, 503) with a short text body
#   timeout        hold the request `seconds` (default 30) or until faults are cleared, then 504
#   drop           reset the connection without any response
#   lost_response  do the work, then reset the connection - or answer HTTP `status` if given
#                  (the change is applied, the client saw an error)
#   page_limit     answer 0x00072004 (response too long) when the body's pageSize exceeds
#                  `maxPageSize`; calls within the limit pass and do not use up `count`
CALL_KINDS = ("latency", "code", "http", "timeout", "drop", "lost_response", "page_limit")
# Kinds that set a condition instead of acting on calls.
STATE_KINDS = ("quota", "door_offline")


@dataclass
class FaultRule:
    rule_id: int
    kind: str
    path: str
    remaining: int | None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, api_path: str) -> bool:
        return self.kind in CALL_KINDS and fnmatch.fnmatchcase(api_path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "kind": self.kind,
            "path": self.path,
            "count": self.remaining,
            **self.params,
        }


class TokenBucket:
    """`rate` requests per second, bursts up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultBook:
    def __init__(self, default_quota_rps: float | None) -> None:
        self._ids = itertools.count(1)
        self.default_quota_rps = default_quota_rps
        self.rules: list[FaultRule] = []
        self.quota: TokenBucket | None = None
        self.cleared = asyncio.Event()
        self._reset_quota()

    def _reset_quota(self) -> None:
        rate = self.default_quota_rps
        self.quota = TokenBucket(rate) if rate else None

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """Validate and add a rule; raises ValueError with a readable message."""
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        spec = dict(spec)
        kind = spec.pop("kind", None)
        path = spec.pop("path", "*")
        count = spec.pop("count", None)
        if kind not in CALL_KINDS + STATE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CALL_KINDS + STATE_KINDS)}")
        if not isinstance(path, str) or not path:
            raise ValueError("path must be a non-empty glob")
        path = path.removeprefix("/artemis")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or null")
        params = _check_params(kind, spec)
        rule = FaultRule(next(self._ids), kind, path, count, params)
        if kind == "quota":
            rate = params["rps"]
            self.quota = TokenBucket(rate) if rate else None
        self.rules.append(rule)
        self.cleared.clear()
        return rule

    def take(self, api_path: str, payload: dict[str, Any] | None) -> FaultRule | None:
        """The rule that applies to this call, consuming one use of it."""
        for rule in self.rules:
            if rule.matches(api_path):
                if rule.kind == "page_limit" and not _over_page_limit(rule, payload):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def offline_doors(self) -> set[str]:
        return {r.params["doorIndexCode"] for r in self.rules if r.kind == "door_offline"}

    def allow_call(self) -> bool:
        return self.quota is None or self.quota.allow()

    def clear(self) -> None:
        self.rules.clear()
        self._reset_quota()
        self.cleared.set()

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [rule.to_json() for rule in self.rules],
            "quotaRps": self.quota.rate if self.quota else None,
        }


def _over_page_limit(rule: FaultRule, payload: dict[str, Any] | None) -> bool:
    size = payload.get("pageSize") if payload else None
    return isinstance(size, int) and size > rule.params["maxPageSize"]


def _number(spec: dict[str, Any], name: str, default: float | None = None) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return float(value)


def _check_params(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    if kind == "latency":
        return {"ms": _number(spec, "ms")}
    if kind == "code":
        code = spec.get("code")
        if not isinstance(code, str | int) or isinstance(code, bool) or str(code) == "":
            raise ValueError('code must be a string such as "6" or "0x00052101"')
        msg = spec.get("msg", "Injected fault.")
        if not isinstance(msg, str):
            raise ValueError("msg must be a string")
        return {"code": str(code), "msg": msg}
    if kind == "http":
        status = spec.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        params: dict[str, Any] = {"status": status}
        if "retryAfter" in spec:
            params["retryAfter"] = int(_number(spec, "retryAfter"))
        return params
    if kind == "timeout":
        return {"seconds": _number(spec, "seconds", 30.0)}
    if kind == "lost_response" and "status" in spec:
        status = spec["status"]
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        return {"status": status}
    if kind == "page_limit":
        return {"maxPageSize": int(_number(spec, "maxPageSize"))}
    if kind == "quota":
        return {"rps": _number(spec, "rps")}
    if kind == "door_offline":
        door = spec.get("doorIndexCode")
        if not isinstance(door, str) or not door:
            raise ValueError("doorIndexCode is required for door_offline")
        return {"doorIndexCode": door}
    return {}
