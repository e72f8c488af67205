"""The personal parts of a shared cached page: who is signed in, their CSRF token, the hub notice.

A catalog page is rendered once per catalog version as a *shell* and cached for everyone; the
parts that differ between people are rendered as random markers and filled in per request by
`page_personalise`. The markers are made per process, so content from the repository cannot
guess them; the shell holds no one's name or token, so nothing personal is ever cached or
served to someone else. Templates show personal data only as `{{ user.username }}` (escaped
HTML text), `user.is_authenticated` and `{% csrf_token %}`; `tests/catalog/test_views.py` holds
the filled page to the uncached one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.contrib.messages import get_messages
from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from portal.hub import hub_page_breaker

# The request attribute that asks the templates for a shell: "anonymous" or "signed-in".
SHELL_ATTR = "page_shell"
ANONYMOUS, SIGNED_IN = "anonymous", "signed-in"

_TOKEN = secrets.token_hex(12)
USER_MARKER = f"personal-user-{_TOKEN}"
CSRF_MARKER = f"personal-csrf-{_TOKEN}"
NOTICE_MARKER = f"<!--personal-notice-{_TOKEN}-->"

# Who a session belongs to, remembered this long (seconds) per process, so a cached page costs a
# signed-in learner no database query. Only what a page *shows* depends on it (the name in the
# header, the launch form instead of "sign in"); every action loads the session and user itself.
# A sign-out in this process forgets at once; elsewhere the name may show this long after.
SIGNED_IN_TTL = 10
_names: TTLCache = TTLCache(maxsize=20_000, ttl=SIGNED_IN_TTL)
_names_lock = threading.Lock()

HUB_NOTICE = (
    '<p class="server-banner hub-notice" id="hub-notice" role="status">The notebook hub is not answering right now: '
    "launching and “My server” are unavailable for a moment. Browsing and downloads work as usual.</p>"
)


# Random bytes read from the OS ahead, per thread, each handed out once (see _random_chars).
_RANDOM_AHEAD = 4096
_random_pool = threading.local()


def _random_bytes(count: int) -> bytes:
    """Return count bytes from os.urandom, read ahead _RANDOM_AHEAD at a time per thread: a read is
    a system call that releases the GIL, and under a threaded server each one may wait for a turn."""
    held: bytes = getattr(_random_pool, "held", b"")
    if len(held) < count or getattr(_random_pool, "pid", None) != os.getpid():  # a forked child reads its own
        held = secrets.token_bytes(max(_RANDOM_AHEAD, count))
    _random_pool.held, _random_pool.pid = held[count:], os.getpid()
    return held[:count]


def _random_chars(count: int) -> str:
    """Return count characters of CSRF_ALLOWED_CHARS, uniformly drawn from the OS's generator."""
    alphabet = CSRF_ALLOWED_CHARS
    limit = 256 - 256 % len(alphabet)  # bytes at or above it would bias the draw: skipped
    chars: list[str] = []
    while len(chars) < count:
        chars += [alphabet[b % len(alphabet)] for b in _random_bytes(2 * count) if b < limit]
    return "".join(chars[:count])


def csrf_token(request: HttpRequest) -> str:
    """Return a CSRF token for a form in this response: what `django.middleware.csrf.get_token`
    returns (a fresh mask over the visitor's secret, so no two responses carry the same token and a
    compressed page gives BREACH nothing to learn), with the randomness read once per token.

    Why not get_token itself: it draws each of its 32 random characters with a separate system
    call that releases the GIL, and under a threaded server (waitress's many threads) those hand-offs
    made a signed-in catalog page cost twice an anonymous one; here the bytes are read ahead.
    The format is Django's (a 32-char mask, then the secret shifted by it over CSRF_ALLOWED_CHARS);
    CsrfViewMiddleware checks it, and tests/catalog/test_views.py posts one back.
    """
    secret = request.META.get("CSRF_COOKIE")
    if not secret:
        secret = _random_chars(CSRF_SECRET_LENGTH)  # a first visit: the middleware sets the cookie
        request.META["CSRF_COOKIE"] = secret
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True  # as get_token: renew the cookie's expiry
    alphabet = CSRF_ALLOWED_CHARS
    mask = _random_chars(CSRF_SECRET_LENGTH)
    cipher = "".join(
        alphabet[(alphabet.index(s) + alphabet.index(m)) % len(alphabet)] for s, m in zip(secret, mask, strict=True)
    )
    return mask + cipher


class ShellUser:
    """Who a signed-in shell is rendered for: anyone signed in, named by a marker."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    username = USER_MARKER

    def get_username(self) -> str:
        return USER_MARKER

    def __str__(self) -> str:
        return USER_MARKER


def hub_down() -> bool:
    """Tell whether the hub's circuit breaker is open in this process (no I/O)."""
    return hub_page_breaker().is_open()


def hub_notice_html() -> SafeString:
    """Return the "hub not answering" notice while the breaker is open, else an empty string."""
    return mark_safe(HUB_NOTICE) if hub_down() else mark_safe("")  # noqa: S308 - constant HTML


def page_context(request: HttpRequest) -> dict:
    """Return the template values for the personal parts: real ones, or markers for a shell.

    Called by the context processor, after Django's own (csrf, auth, messages), so a shell's
    markers replace the person's values.
    """
    mode = getattr(request, SHELL_ATTR, None)
    if mode is None:
        return {"hub_notice": hub_notice_html()}
    context = {"hub_notice": mark_safe(NOTICE_MARKER), "csrf_token": CSRF_MARKER}  # noqa: S308 - constant
    if mode == SIGNED_IN:
        context |= {"user": ShellUser(), "messages": ()}
    return context


def _session_digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def signed_in_name(request: HttpRequest) -> str:
    """Return the name of the learner signed in with this request's session, "" for nobody
    (remembered per session for SIGNED_IN_TTL seconds: no database query when known)."""
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return ""
    digest = _session_digest(session_key)
    with _names_lock:
        name = _names.get(digest)
    if name is None:
        name = request.user.get_username() if request.user.is_authenticated else ""
        with _names_lock:
            _names[digest] = name
    return name


def _forget_on_sign_out(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Forget a session's name when its learner signs out (sent before the session is flushed)."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        with _names_lock:
            _names.pop(_session_digest(session_key), None)


user_logged_out.connect(_forget_on_sign_out, dispatch_uid="portal.personal.forget_on_sign_out")


def page_mode(request: HttpRequest) -> str | None:
    """Return which shell serves this request ("anonymous" or "signed-in"), or None when the page
    must be rendered for this request alone (messages waiting to be shown)."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES and "messages" not in request.COOKIES:
        return ANONYMOUS  # no session, no message: nothing to look up
    # Counted, not consumed (the rendered page shows them); without a messages cookie this reads
    # nothing (messages go to the cookie first, to the session only when they overflow it).
    if len(get_messages(request)):
        return None
    return SIGNED_IN if signed_in_name(request) else ANONYMOUS


def page_personalise(*, request: HttpRequest, body: bytes) -> bytes:
    """Fill a shell's markers in for this request: the hub notice, the CSRF token, the name."""
    body = body.replace(NOTICE_MARKER.encode(), hub_notice_html().encode())
    if CSRF_MARKER.encode() in body:
        body = body.replace(CSRF_MARKER.encode(), csrf_token(request).encode())
    if USER_MARKER.encode() in body:
        body = body.replace(USER_MARKER.encode(), escape(signed_in_name(request)).encode())
    return body
