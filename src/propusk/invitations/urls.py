from django.urls import path

from propusk.invitations import views

app_name = "invitations"
urlpatterns = [
    path("", views.invitation_list, name="list"),
    path("new/", views.create, name="create"),
    path("<int:invitation_id>/", views.detail, name="detail"),
    path("<int:invitation_id>/revoke/", views.revoke, name="revoke"),
    # The public link a visitor opens: the only page of the site without login.
    path("i/<str:token>/", views.public, name="public"),
]
