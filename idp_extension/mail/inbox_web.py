"""The development inbox's web page: list and read what ``MailInbox`` received.

A developer tool served on loopback by ``ispeks-idp dev``. Email HTML is untrusted: it
is served from its own route with a CSP that forbids scripts and puts it in a sandbox,
and shown in a sandboxed iframe whose links open in a new tab (the sidecar refuses to
be framed, so following a link inside the frame would show nothing).
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, Response, abort, jsonify, render_template
from werkzeug.serving import BaseWSGIServer, make_server

from idp_extension.mail.inbox import MailInbox

_HERE = Path(__file__).resolve().parent

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# What the email's HTML may do inside its frame: show images and inline styles, nothing
# else. The sandbox directive applies even when the route is opened on its own.
EMAIL_CSP = (
    "default-src 'none'; img-src data: cid: http: https:; style-src 'unsafe-inline'; "
    "font-src data:; form-action 'none'; base-uri 'self'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
IFRAME_SANDBOX = (
    "allow-popups allow-top-navigation-by-user-activation allow-popups-to-escape-sandbox"
)


def create_inbox_app(inbox: MailInbox) -> Flask:
    """Build the Flask app that shows ``inbox``."""
    app = Flask(
        __name__,
        template_folder=str(_HERE / "inbox_templates"),
        static_folder=str(_HERE / "inbox_static"),
        static_url_path="/static",
    )

    def message_or_404(message_id: int):
        message = inbox.get(message_id)
        if message is None:
            abort(404)
        return message

    @app.get("/")
    def index() -> str:
        messages = list(reversed(inbox.messages()))
        return render_template("list.html", messages=messages, inbox=inbox)

    @app.get("/messages/<int:message_id>")
    def show(message_id: int) -> str:
        return render_template(
            "show.html", message=message_or_404(message_id), sandbox=IFRAME_SANDBOX
        )

    @app.get("/messages/<int:message_id>/html")
    def html_body(message_id: int) -> Response:
        message = message_or_404(message_id)
        # A <base> ahead of the email's own markup makes every link open in a new tab.
        body = '<!doctype html><base target="_blank">' + message.html
        response = Response(body, mimetype="text/html")
        response.headers["Content-Security-Policy"] = EMAIL_CSP
        return response

    @app.get("/messages/<int:message_id>/raw")
    def raw(message_id: int) -> Response:
        return Response(message_or_404(message_id).raw, mimetype="text/plain")

    @app.get("/api/messages")
    def api_messages() -> Response:
        return jsonify([m.as_dict() for m in reversed(inbox.messages())])

    @app.get("/api/messages/<int:message_id>")
    def api_message(message_id: int) -> Response:
        return jsonify(message_or_404(message_id).as_dict())

    # DELETE, not a form POST: a cross-site page cannot send it without a preflight.
    @app.delete("/api/messages")
    def api_clear() -> Response:
        inbox.clear()
        return jsonify({"cleared": True})

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


class InboxWebServer:
    """The inbox page served by werkzeug in a daemon thread."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="ispeks-inbox-web", daemon=True
        )

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "InboxWebServer":
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    stop = shutdown


def serve_inbox_web(inbox: MailInbox, host: str = "127.0.0.1", port: int = 0) -> InboxWebServer:
    """Serve ``inbox``'s web page on ``host:port`` (0: any free port) until shut down."""
    server = make_server(host, port, create_inbox_app(inbox), threaded=True)
    return InboxWebServer(server).start()
