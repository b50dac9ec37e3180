"""SQLite's LIKE, made to fold the case of every letter, not only of ASCII ones.

Django's ``icontains``/``istartswith``/``iexact`` on SQLite are ``LIKE ... ESCAPE '\\'``, and
SQLite's own LIKE folds only A-Z: "айгерим" would not find "Айгерим", so a desk searching
Russian and Kazakh names in `make run` would miss people PostgreSQL finds. SQLite lets an
application replace ``like()`` (https://www.sqlite.org/lang_corefunc.html#like); this one
casefolds both sides. (On SQLite Django's case-sensitive ``contains`` is a LIKE as well and
was already case-blind for ASCII; it now is for every letter.)
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=512)
def like_pattern(pattern: str, escape: str | None) -> re.Pattern[str]:
    """The regular expression of a LIKE pattern: ``%`` any run, ``_`` any one character,
    ``escape`` making the next character literal; case folded."""
    parts: list[str] = []
    characters = iter(pattern.casefold())
    for char in characters:
        if escape is not None and char == escape.casefold():
            parts.append(re.escape(next(characters, "")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def unicode_like(pattern: Any, value: Any, escape: Any = None) -> int | None:
    """``value LIKE pattern [ESCAPE escape]`` as SQLite calls it: like(pattern, value, escape)."""
    if pattern is None or value is None:
        return None
    return int(like_pattern(str(pattern), escape).fullmatch(str(value).casefold()) is not None)


def install_unicode_like(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: every new SQLite connection gets ``unicode_like``."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("like", 2, unicode_like, deterministic=True)
    raw.create_function("like", 3, unicode_like, deterministic=True)
