from django.urls import path

from propusk.access import views

app_name = "access"

urlpatterns = [
    path("hcp/persons/", views.hcp_person, name="hcp_person"),
    path("visits/<int:visit_id>/", views.card, name="card"),
    path("visits/<int:visit_id>/<str:operation>/", views.operate, name="operate"),
]
