"""Sign-in through the hub's OAuth (`HubOAuth`): state, safe `next`, code exchange, the user."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.http import url_has_allowed_host_and_scheme

from portal.hub import HubUnavailable, hub_page_breaker, service_token

log = logging.getLogger(__name__)
SESSION_KEY = "hub_oauth_pending"
MAX_PENDING = 5  # sign-ins started in other tabs stay valid, but not forever many


class SignInError(RuntimeError):
    """Sign-in could not finish; the message is shown to the person."""


class HubUnreachable(SignInError):
    """The hub did not answer."""


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and what to remember until it comes back."""

    authorize_url: str
    state: str
    next_url: str
    code_verifier: str


def next_url_safe(*, candidate: str | None, portal_url: str) -> str:
    """Return candidate as a path on the portal's own origin, else "/" (no open redirects)."""
    if not candidate:
        return "/"
    portal = urlsplit(portal_url)
    candidate = candidate.strip()
    if not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={portal.netloc}, require_https=portal.scheme == "https"
    ):
        return "/"
    parts = urlsplit(candidate)
    if parts.netloc and (parts.scheme, parts.netloc) != (portal.scheme, portal.netloc):
        return "/"
    path = parts.path or "/"
    # A path must stay a path: "//host" and "/\host" are read as other origins by browsers.
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    return path + (f"?{parts.query}" if parts.query else "")


@lru_cache(maxsize=4)
def _hub_oauth(api_url: str, hub_url: str, token: str, client_id: str, redirect_uri: str):
    """Return one HubOAuth per configuration (it keeps a thread for its sync calls)."""
    # Imported here: jupyterhub pulls in a lot, and most requests never sign anyone in.
    from jupyterhub.httpclient import JupyterHubHTTPClient
    from jupyterhub.services.auth import HubOAuth

    oauth = HubOAuth(
        api_url=api_url + "/",
        api_token=token,
        oauth_client_id=client_id,
        oauth_redirect_uri=redirect_uri,
        hub_host=hub_url,
        hub_prefix="/hub/",
        cache_max_age=0,
    )

    async def _no_keepalive() -> None:
        # The hub drops idle keep-alive connections and aiohttp does not retry a POST on a
        # dropped one (the token exchange failed minutes after a first sign-in): one
        # connection per call is plenty at sign-in rates.
        JupyterHubHTTPClient.instance(connector_options={"force_close": True})

    oauth._synchronize(_no_keepalive)
    return oauth


def hub_oauth_build():
    """Return the HubOAuth client configured from settings (HubUnreachable before the hub made its token)."""
    try:
        token = service_token(configured=settings.HUB_SERVICE_TOKEN, path=settings.HUB_SERVICE_TOKEN_FILE)
    except HubUnavailable as error:
        log.warning("sign-in: %s", error)  # the page says "unavailable"; the operator needs why
        raise HubUnreachable("The notebook hub is not answering right now.") from error
    return _hub_oauth(
        settings.HUB_API_URL,
        settings.HUB_URL,
        token,
        settings.HUB_OAUTH_CLIENT_ID,
        settings.HUB_OAUTH_REDIRECT_URI,
    )


def hub_reachable(*, api_url: str, timeout: float = 3.0) -> bool:
    """Tell whether the hub's API answers (its root needs no token); False at once while the
    pages' circuit breaker is open (portal.hub.HubBreaker), and a failure here counts towards it."""
    try:
        with hub_page_breaker().guard():
            try:
                return httpx.get(api_url + "/", timeout=timeout).status_code == 200
            except httpx.HTTPError as error:
                raise HubUnavailable(str(error)) from error
    except HubUnavailable:
        return False


def signin_start(*, next_url: str | None) -> SignInStart:
    """Make a fresh state and PKCE pair and the hub authorize URL that carries them."""
    if not hub_reachable(api_url=settings.HUB_API_URL, timeout=settings.HUB_TIMEOUT):
        raise HubUnreachable("The notebook hub is not answering right now.")
    oauth = hub_oauth_build()
    state = secrets.token_urlsafe(24)
    verifier, challenge, method = oauth.generate_pkce_code_challenge()
    query = urlencode(
        {
            "client_id": oauth.oauth_client_id,
            "redirect_uri": oauth.oauth_redirect_uri,
            "response_type": "code",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": method,
        }
    )
    return SignInStart(
        authorize_url=f"{oauth.oauth_authorization_url}?{query}",
        state=state,
        next_url=next_url_safe(candidate=next_url, portal_url=settings.PORTAL_URL),
        code_verifier=verifier,
    )


def pending_remember(*, session, start: SignInStart) -> None:
    """Keep a started sign-in in the session (the state is checked on the way back)."""
    pending = dict(session.get(SESSION_KEY, {}))
    pending[start.state] = {"next": start.next_url, "verifier": start.code_verifier}
    session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])


def pending_take(*, session, state: str) -> dict | None:
    """Remove and return the sign-in started with state, if this browser started it."""
    pending = dict(session.get(SESSION_KEY, {}))
    found = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    return found


def signin_finish(*, code: str, code_verifier: str):
    """Exchange the code with the hub, and return the Django user with the hub user's name."""
    if hub_page_breaker().is_open():  # the hub failed just before: say so at once
        raise HubUnreachable("The notebook hub is not answering right now.")
    oauth = hub_oauth_build()
    try:
        token = oauth.token_for_code(code, code_verifier=code_verifier)
        model = oauth.user_for_token(token, use_cache=False)
    except Exception as error:  # HubOAuth raises tornado HTTPErrors for every failure
        if "connect" in str(error).lower():
            raise HubUnreachable("The notebook hub is not answering right now.") from error
        raise SignInError("The hub did not accept this sign-in. Please sign in again.") from error
    if not model or not model.get("name"):
        raise SignInError("The hub did not say who you are. Please sign in again.")
    user, _ = get_user_model().objects.get_or_create(username=model["name"])
    return user


def hub_logout_url() -> str:
    """Return the hub's logout page (it clears the hub's cookie, then returns to the portal)."""
    return settings.HUB_URL + "/hub/logout"
