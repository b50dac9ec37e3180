"""What a visit's passages mean for it: a pure function of the passages, not of the order
they arrived in.

The handler re-plans a visit from all its recorded passages each time one is added, and
applies what the plan says that has not happened yet. Since the plan depends only on the set
of passages (sorted by time, entries before exits within one second, then event id), an exit
processed before its entry, or an event processed twice, ends in the same visit as the events
in order.

Only granted passages count: a door that refused someone moved nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum


class Way(IntEnum):
    """Direction of a passage (HCP's ``checkInAndOutType``)."""

    UNKNOWN = 0
    IN = 1
    OUT = 2


@dataclass(frozen=True)
class Fact:
    """One granted passage: when, which way, and a tie-breaker (HCP's event id)."""

    at: datetime
    way: Way
    key: str


@dataclass(frozen=True)
class Plan:
    """What the passages say about a visit.

    - ``check_in_at``: the first entry (None: never came in through a door);
    - ``check_out_at``: single pass only, the exit that ends the visit, and ``check_out_due``
      when it may be applied (the exit itself, or the exit + the re-entry grace when the
      visitor may still come back; later than now means: wait);
    - ``inside``: by the last passage (None: no passage yet);
    - ``exits_without_entry``: keys of exits with no entry before them.
    """

    check_in_at: datetime | None = None
    check_out_at: datetime | None = None
    check_out_due: datetime | None = None
    inside: bool | None = None
    exits_without_entry: tuple[str, ...] = field(default=())


def plan_visit(facts: Iterable[Fact], *, single_pass: bool, reentry_grace: timedelta) -> Plan:
    """The plan of one visit from its granted passages (any order, duplicates allowed).

    A passage of unknown direction counts as an entry (a door that does not say which way
    let the visitor through, and arriving is what a visit expects). Single pass: the first
    exit after the first entry ends the visit - at once without a re-entry grace; with one,
    a single entry within the grace keeps the visit open until the next exit, and no entry
    within it ends the visit at that first exit once the grace is over.
    """
    if reentry_grace < timedelta(0):
        raise ValueError("the re-entry grace cannot be negative")
    # HCP keeps whole seconds: within one second an entry goes before an exit.
    ordered = sorted(set(facts), key=lambda fact: (fact.at, fact.way == Way.OUT, fact.key))
    check_in_at: datetime | None = None
    inside: bool | None = None
    without_entry: list[str] = []
    first_exit: datetime | None = None
    reentered = False
    for fact in ordered:
        if fact.way == Way.OUT:
            if check_in_at is None:
                without_entry.append(fact.key)
                inside = False
                continue
            inside = False
            if not single_pass:
                continue
            if reentered or not reentry_grace:
                return Plan(check_in_at, fact.at, fact.at, False, tuple(without_entry))
            if first_exit is None:
                first_exit = fact.at
            continue
        # An entry (or a passage of unknown direction).
        if check_in_at is None:
            check_in_at = fact.at
        elif single_pass and first_exit is not None and not reentered:
            if fact.at > first_exit + reentry_grace:
                # Came back after the grace: the visit ended at the first exit.
                return Plan(
                    check_in_at,
                    first_exit,
                    first_exit + reentry_grace,
                    True,
                    tuple(without_entry),
                )
            reentered = True
        inside = True
    if single_pass and first_exit is not None and not reentered:
        return Plan(
            check_in_at, first_exit, first_exit + reentry_grace, inside, tuple(without_entry)
        )
    return Plan(check_in_at, None, None, inside, tuple(without_entry))
