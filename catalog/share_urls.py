"""URLs for sharing: the launch badge image."""

from django.urls import path

from catalog import share_views

app_name = "share"

urlpatterns = [
    path("badge.svg", share_views.launch_badge, name="badge"),
]
