"""URLs of the public catalog."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.catalog_index, name="index"),
    path("<slug:slug>/", views.workshop_detail, name="detail"),
    path("<slug:slug>/download.zip", views.workshop_zip, name="zip"),
    path("<slug:slug>/notebooks/<path:path>", views.notebook_preview, name="notebook"),
    path("<slug:slug>/download/<path:path>", views.notebook_download, name="download"),
    path("<slug:slug>/files/<path:path>", views.workshop_file, name="file"),
]
