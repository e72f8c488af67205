"""URLs of the JSON API."""

from django.urls import path

from catalog import api

app_name = "api"

urlpatterns = [
    path("workshops", api.workshops_list, name="workshops"),
    path("workshops/<slug:slug>", api.workshop_detail, name="workshop"),
]
