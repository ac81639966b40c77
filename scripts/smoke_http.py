"""Smoke test of a running console over HTTP: /healthz, then a real log-in through the form.

    python scripts/smoke_http.py http://127.0.0.1:8765 USERNAME PASSWORD_FILE

Production cookies are Secure, so the script says it is behind an HTTPS proxy (X-Forwarded-Proto: https, with
SECURE_PROXY_SSL=1 on the server) and carries the cookies itself. Exits 1 with a reason on any failure.
"""

from __future__ import annotations

import http.client
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

PROXY = {"X-Forwarded-Proto": "https"}


def request(
    base: str,
    method: str,
    path: str,
    *,
    cookies: dict[str, str],
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    all_headers = dict(PROXY, Host=f"{parts.hostname}:{parts.port}", **(headers or {}))
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    response.body = response.read().decode(errors="replace")  # type: ignore[attr-defined]
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]
    return response


def fail(message: str) -> None:
    print(f"smoke: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    base, username, password_file = sys.argv[1], sys.argv[2], sys.argv[3]
    password = Path(password_file).read_text().strip()
    cookies: dict[str, str] = {}
    for _ in range(60):
        try:
            health = request(base, "GET", "/healthz", cookies={})
            break
        except OSError:
            time.sleep(0.5)
    else:
        fail("the server did not answer /healthz within 30 s")
    if health.status != 200 or '"ok"' not in health.body:  # type: ignore[attr-defined]
        fail(f"/healthz answered {health.status}")
    print("smoke: /healthz 200")

    login_page = request(base, "GET", "/login/", cookies=cookies)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.body)  # type: ignore[attr-defined]
    if login_page.status != 200 or not match:
        fail(f"/login/ answered {login_page.status} without a CSRF token")
    form = urlencode({"csrfmiddlewaretoken": match.group(1), "username": username, "password": password})
    origin = f"https://{urlsplit(base).hostname}:{urlsplit(base).port}"
    posted = request(
        base,
        "POST",
        "/login/",
        cookies=cookies,
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": origin + "/login/", "Origin": origin},
    )
    if posted.status != 302 or posted.headers.get("Location") != "/":
        fail(f"log-in answered {posted.status} {posted.headers.get('Location')}")
    home = request(base, "GET", "/", cookies=cookies)
    if home.status != 200 or username not in home.body:  # type: ignore[attr-defined]
        fail(f"the dashboard answered {home.status} after log-in")
    if "Strict-Transport-Security" not in home.headers or "Content-Security-Policy" not in home.headers:
        fail("production security headers are missing")
    static = re.search(r'href="(/static/css/console\.[0-9a-f]+\.css)"', home.body)  # type: ignore[attr-defined]
    if not static or request(base, "GET", static.group(1), cookies={}).status != 200:
        fail("the hashed stylesheet is not served by whitenoise")
    print(f"smoke: logged in as {username}, dashboard 200, static files served, security headers present")


if __name__ == "__main__":
    main()
