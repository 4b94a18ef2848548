"""The web view: incidents and their reports in a browser, signed in with Slack (OpenID Connect).

Served by the bot's own aiohttp app under `web.path_prefix` (bot/app.py mounts `WebView.app()`), rendered on the
server with Jinja2 (autoescaped), usable without JavaScript. See README "Web view".
"""

from bot.web.view import WebView

__all__ = ["WebView"]
