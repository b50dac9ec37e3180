from django.urls import path

from propusk.visitors import views

app_name = "visitors"
urlpatterns = [
    path("<int:visitor_id>/photo/", views.photo, name="photo"),
]
