"""Who may see and who may change: HTTP Basic credentials, CSRF tokens, response headers.

    Credentials.from_env()        WIREWATCH_WEB_USER / WIREWATCH_WEB_PASSWORD (or None)
    Guard(credentials, public)    user(request) -> name | None; operator(request) -> name, or 401/403
    csrf_token(request)           the double-submit token of this browser (cookie + form field)
    security_headers(tile_url)    Content-Security-Policy and friends, sent with every response

Pages are public only when the server listens on loopback (``public=True``); corrections
always need the credentials. Comparisons are constant-time (``secrets.compare_digest``).
Corrections are POSTs carrying a token equal to a SameSite=Strict cookie the page set, and an
Origin header, when the browser sends one, must be this server's.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

CSRF_COOKIE = "wirewatch_csrf"
CSRF_FIELD = "csrf"
REALM = 'Basic realm="wirewatch", charset="UTF-8"'


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials | None:
        env = os.environ if environ is None else environ
        user, password = env.get("WIREWATCH_WEB_USER", ""), env.get("WIREWATCH_WEB_PASSWORD", "")
        return cls(user, password) if user and password else None

    def matches(self, user: str, password: str) -> bool:
        # Both compared, always: the time taken says nothing about which one was wrong.
        ok_user = secrets.compare_digest(user.encode(), self.user.encode())
        ok_password = secrets.compare_digest(password.encode(), self.password.encode())
        return ok_user & ok_password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": REALM})


@dataclass(frozen=True, slots=True)
class Guard:
    """`public`: pages may be read without credentials (loopback bind)."""

    credentials: Credentials | None
    public: bool

    def user(self, request: Request) -> str | None:
        """The authenticated user name, None when no (valid) credentials came."""
        given = _basic(request)
        if given is None or self.credentials is None or not self.credentials.matches(*given):
            return None
        return given[0]

    def operator(self, request: Request) -> str:
        """For corrections: always authenticated."""
        if self.credentials is None:
            raise HTTPException(
                status_code=403,
                detail="corrections are disabled: set WIREWATCH_WEB_USER and WIREWATCH_WEB_PASSWORD",
            )
        user = self.user(request)
        if user is None:
            raise unauthorized("corrections need credentials")
        return user


def csrf_token(request: Request) -> str:
    """This browser's token: the cookie's value, or a new one (set by the page's response)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 32 or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(32)
    request.state.csrf = token
    return token


def check_csrf(request: Request, form_token: str) -> None:
    """Raises 403 unless the form's token equals the cookie and the origin is ours."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not form_token or not secrets.compare_digest(cookie.encode(), form_token.encode()):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token: reload the page and try again")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise HTTPException(status_code=403, detail="cross-origin form post refused")


def tile_origin(tile_url: str) -> str | None:
    """The CSP source for a tile URL template: https://{s}.tile.x.org/... -> https://*.tile.x.org."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "sub"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.replace("sub.", "*.", 1) if "{s}" in tile_url else parts.netloc
    return f"{parts.scheme}://{host}"


def security_headers(tile_url: str) -> dict[str, str]:
    """Strict CSP: scripts and styles only from this server (no inline), images also from the tiles."""
    tiles = tile_origin(tile_url)
    img = "'self' data:" + (f" {tiles}" if tiles else "")
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def http_url(url: object) -> str | None:
    """`url` when it is an absolute http(s) URL, else None (javascript:, data:, relative...)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text
