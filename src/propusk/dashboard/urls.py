from django.urls import path

from propusk.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("live/", views.live, name="live"),
    path("evacuation/", views.evacuation, name="evacuation"),
    path("evacuation.csv", views.evacuation_csv, name="evacuation_csv"),
    path("evacuation.pdf", views.evacuation_pdf, name="evacuation_pdf"),
]
