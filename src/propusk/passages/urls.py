from django.urls import path

from propusk.passages import views

app_name = "passages"
urlpatterns = [
    path("incidents/", views.incident_list, name="incidents"),
    path("incidents/<int:incident_id>/", views.incident_detail, name="incident"),
    path("incidents/<int:incident_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("incidents/<int:incident_id>/resolve/", views.resolve, name="resolve"),
    path("<int:passage_id>/picture/", views.picture, name="picture"),
]
