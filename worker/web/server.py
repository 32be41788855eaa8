"""``wirewatch web``: check the bind against the credentials, then serve with uvicorn.

Loopback (the default): pages are open to this machine, corrections need the credentials.
Any other address: every request needs them, and the server refuses to start without them.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from worker.errors import ConfigError
from worker.settings import Settings
from worker.web.app import create_app
from worker.web.security import Credentials, is_loopback


def build(settings: Settings, host: str) -> FastAPI:
    """The app for a server bound to `host`. Raises ConfigError for a public bind without credentials."""
    credentials = Credentials.from_env()
    public = is_loopback(host)
    if not public and credentials is None:
        raise ConfigError(
            f"web.host={host} is not loopback: set WIREWATCH_WEB_USER and WIREWATCH_WEB_PASSWORD "
            "(every page then needs them)"
        )
    return create_app(settings, public=public, credentials=credentials)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn's graceful shutdown)."""
    bind = host or settings.web.host
    app = build(settings, bind)
    where = f"[{bind}]" if ":" in bind else bind
    print(f"Wirewatch web: http://{where}:{port or settings.web.port}/", flush=True)
    uvicorn.run(app, host=bind, port=port or settings.web.port, log_level="warning", proxy_headers=False)
