"""The admin API as the edge mounts it.

FastAPI costs more start-up time than everything else together, so the admin app is
built in a worker thread once the services are up; health, which orchestrators poll
from the first moment, is answered directly meanwhile and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from controlplane.gateway.http import send_response

if TYPE_CHECKING:
    from controlplane.runtime import Runtime

HEALTH_PATHS = frozenset({"/health", "/_localzure/health"})


def is_admin_path(path: str) -> bool:
    return path == "/health" or path == "/_localzure" or path.startswith("/_localzure/")


class AdminMount:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._app: Any = None
        self._loading: asyncio.Task[Any] | None = None

    def load(self) -> None:
        """Start importing and building the FastAPI app in a worker thread."""
        self._loading = asyncio.create_task(asyncio.to_thread(_build, self.runtime))

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["path"] in HEALTH_PATHS and scope["method"] == "GET":
            body = orjson.dumps(self.runtime.health())
            return await send_response(send, 200, body=body, content_type="application/json")
        if self._app is None:
            assert self._loading is not None, "admin app not loading"
            self._app = await self._loading
        await self._app(scope, receive, send)


def _build(runtime: Runtime) -> Any:
    from controlplane.admin.app import create_admin_app

    return create_admin_app(runtime)
