"""The smallest WSGI application shaped like a vote's answer, for `profile_wsgi_floor.py`: it reads the
request's body and answers ~1.2 KB of HTML with the headers a lean vote sends, doing nothing else, so what
the server process spends per request is the WSGI server's own cost (HTTP parsing, threads, the socket)."""

from __future__ import annotations

BODY = b'<div id="revealed">' + b"x" * 1200 + b"</div>\n"
HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Length", str(len(BODY))),
    ("X-Frame-Options", "DENY"),
    ("Vary", "Cookie"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", HEADERS)
    return [BODY]
