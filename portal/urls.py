"""Site URLs."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="catalog:index", permanent=False)),
    path("workshops/", include("catalog.urls")),
    path("api/", include("catalog.api_urls")),
    path("", include("catalog.github_urls")),
    path("", include("catalog.share_urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
