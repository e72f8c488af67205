"""URLs of the GitHub integration: the webhook and validation reports."""

from django.urls import path

from catalog import views_github

app_name = "github"

urlpatterns = [
    path("github/webhook", views_github.github_webhook, name="webhook"),
    path("validation/<int:pk>", views_github.validation_detail, name="validation"),
]
