"""An aiohttp application served on a port of this machine, started and stopped by its owner: the one way the
emulator's servers (Slack, PagerDuty) and the tests' fake APIs listen."""

from __future__ import annotations

from aiohttp import web


class Listener:
    """Serves one application at a time: `open()` returns its base URL (port 0: a free port), `close()` ends it."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def open(
        self, app: web.Application, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 60.0
    ) -> str:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class LoopbackServer:
    """A fake HTTP API: `routes()` names what it answers, `start()` serves it on a free loopback port (`url`),
    `stop()` ends it."""

    def __init__(self) -> None:
        self._listener = Listener()
        self.url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        self.routes(app)
        self.url = await self._listener.open(app)
        return self.url

    async def stop(self) -> None:
        await self._listener.close()
