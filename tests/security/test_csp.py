"""The Content-Security-Policy header, and templates that can live with it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


@pytest.mark.parametrize("path", ["/login/", "/orders/", "/orders/new/", "/approvals/", "/admin/"])
def test_every_page_sends_a_policy_without_inline_script_or_style(client, admin_user, fake_temporal, path):
    client.force_login(admin_user)
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in policy


def test_the_api_answers_carry_the_policy_too(client):
    assert "default-src 'self'" in client.get("/api/v1/openapi.json")["Content-Security-Policy"]


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_templates_hold_no_inline_script_handler_or_style(template):
    html = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>: move it to static/js"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler: bind it in static/js"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute: move it to static/css"
    assert not re.search(r"<style[\s>]", html), "inline <style> element: move it to static/css"
    assert not re.search(r"hx-(trigger|vals)=\"[^\"]*(\[|js:)", html) or "from:input[" in html, "htmx filters are evaluated JavaScript"
