"""The web process's application (run by `python -m ontop.webserver`).

Progress streams (GET /api/jobs/<id>/events/) are served here, asynchronously: hundreds of open
streams cost a socket each. Everything else is Django's WSGI application in a thread pool
(a2wsgi), so the site's sync views run in threads exactly as they did under gunicorn's gthread
workers. Django's own ASGI handler is not used for them: it runs all sync code on one thread.
"""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

from ontop.boot import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ontop.settings")
load_settings_or_exit()
django_application = get_wsgi_application()

from django.urls import get_resolver  # noqa: E402 - after the settings are loaded

# Every view module imported now, in the URLconf's order, as Django's first request would.
_ = get_resolver().url_patterns

from ontop.env import env_int  # noqa: E402
from ontop.events import stream  # noqa: E402

# Threads per process for Django's views: gthread's --threads 4, as before.
WEB_THREADS = env_int("ONTOP_WEB_THREADS", 4, minimum=1, maximum=64)
_django = WSGIMiddleware(django_application, workers=WEB_THREADS)


async def application(scope, receive, send):
    if stream.is_events_request(scope):
        await stream.handle(scope, receive, send)
    elif scope["type"] == "http":
        await _django(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "websocket":  # none is served: refuse the handshake
        await send({"type": "websocket.close", "code": 1000})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            stream.install_shutdown_hooks()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            stream.hub().close_all()
            await send({"type": "lifespan.shutdown.complete"})
            return
