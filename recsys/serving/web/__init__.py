"""The demo web page, served by the service at ``/ui`` (plain HTML and JavaScript, no build step)."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

PAGE = Path(__file__).parent / "index.html"


def web_app() -> Starlette:
    """A Starlette app with the page at its root (mounted at ``/ui`` by the service)."""

    async def page(_request) -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")

    return Starlette(routes=[Route("/", page), Route("/index.html", page)])
