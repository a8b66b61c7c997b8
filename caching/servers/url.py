"""Redis URLs as they may appear in logs and reports: never with a password."""

from __future__ import annotations

import re

# redis://user:password@host, redis://:password@host, and unix:///path?password=... (query form).
_USERINFO_PASSWORD = re.compile(r"^(?P<scheme>[a-z]+://)(?P<user>[^:@/]*):[^/?#]*@")
_QUERY_PASSWORD = re.compile(r"(?P<sep>[?&])password=[^&#]*")


def redact_url(url: str) -> str:
    url = _USERINFO_PASSWORD.sub(r"\g<scheme>\g<user>:***@", url)
    return _QUERY_PASSWORD.sub(r"\g<sep>password=***", url)
