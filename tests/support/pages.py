"""Read a sidecar page as a browser would follow it: the addresses it links to."""

from __future__ import annotations

import html
import re

LOCAL_URL = re.compile(r'(?:href|action|src|formaction)="(/[^"]*)"')


def local_urls(body: str) -> list[str]:
    """Every root-relative link, form action and source on the page (``/...``): behind a
    proxy's prefix each must start with it, or the browser leaves the sidecar."""
    return [html.unescape(url) for url in LOCAL_URL.findall(body)]


def outside(body: str, prefix: str) -> list[str]:
    """The page's root-relative addresses that do not start with ``prefix`` + "/"."""
    return [url for url in local_urls(body) if not url.startswith(f"{prefix}/")]
