"""Site URLs."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import accounts_views, launch_views, my_server_views, status_views, views

accounts_patterns = (
    [
        path("login", accounts_views.signin, name="login"),
        path("callback", accounts_views.callback, name="callback"),
        path("logout", accounts_views.signout, name="logout"),
    ],
    "accounts",
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="catalog:index", permanent=False)),
    # Before the catalog's URLs: a POST-only action on a workshop.
    path("workshops/<slug:slug>/launch", launch_views.workshop_launch, name="launch"),
    path("workshops/<slug:slug>/wait", launch_views.launch_wait, name="launch_wait"),
    path("workshops/", include("catalog.urls")),
    path("queue/status", launch_views.queue_status, name="queue_status"),
    path("queue/leave", launch_views.queue_leave, name="queue_leave"),
    path("accounts/", include(accounts_patterns)),
    path("me/server", my_server_views.my_server, name="my_server"),
    path("me/server.json", my_server_views.my_server_status, name="my_server_status"),
    path("me/server/stop", my_server_views.my_server_stop, name="my_server_stop"),
    path("me/server/extend", my_server_views.my_server_extend, name="my_server_extend"),
    path("me/lab/credentials", my_server_views.my_lab_credentials, name="my_lab_credentials"),
    path("lab/report", my_server_views.lab_report, name="lab_report"),
    path("api/status", status_views.status_api, name="status_api"),
    path("api/", include("catalog.api_urls")),
    path("status", status_views.status_page, name="status"),
    path("", include("catalog.github_urls")),
    path("", include("catalog.share_urls")),
    # Answered by portal.middleware.HealthProbeMiddleware first; named here for reverse().
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page links: no 404 in every log.
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon-32.png"), permanent=True)),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
