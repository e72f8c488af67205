"""URLs of the GitHub integration: the webhook and validation reports."""

from django.urls import path

from catalog import github_views

app_name = "github"

urlpatterns = [
    path("github/webhook", github_views.github_webhook, name="webhook"),
    path("validation/<int:pk>", github_views.validation_detail, name="validation"),
]
