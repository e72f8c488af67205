"""The development sign-in: any GitHub-like username, no password, loopback only."""

from __future__ import annotations

from jupyterhub.auth import DummyAuthenticator
from jupyterhub.handlers.login import LogoutHandler
from traitlets import Unicode


class PortalLogoutHandler(LogoutHandler):
    """Log out of the hub, then go back to the portal rather than to the hub's login form."""

    async def render_logout_page(self) -> None:
        """Send the person back to the portal."""
        self.redirect(self.authenticator.logout_redirect_url or self.settings["login_url"])


class DevAuthenticator(DummyAuthenticator):
    """Accept any username: for a laptop or a test run, never for a hub others can reach."""

    logout_redirect_url = Unicode("", help="Where to go after logging out (the portal).").tag(config=True)

    def get_handlers(self, app) -> list:
        """Add the logout handler that returns to the portal."""
        return [*super().get_handlers(app), (r"/logout", PortalLogoutHandler)]
