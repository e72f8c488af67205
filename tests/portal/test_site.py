"""Site-wide bits a browser asks for on every visit."""

from __future__ import annotations


def test_favicon_ico_points_at_the_sites_icon(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/static/portal/favicon-32.png")
