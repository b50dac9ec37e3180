from django.urls import path

from propusk.events import views

app_name = "events"

urlpatterns = [
    # HCP's OnEventNotify push; the token is part of the eventDest we register.
    path("<str:token>/", views.hcp_push, name="hcp_push"),
    # Without a token: refused like a wrong one (401), not a 404 that hides a misconfiguration.
    path("", views.hcp_push_without_token, name="hcp_push_without_token"),
]
