"""URLs for sharing: the launch badge image."""

from django.urls import path

from catalog import views_share

app_name = "share"

urlpatterns = [
    path("badge.svg", views_share.launch_badge, name="badge"),
]
