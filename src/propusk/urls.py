from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from propusk.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("visits/", include("propusk.visits.urls")),
    path("visitors/", include("propusk.visitors.urls")),
    path("invitations/", include("propusk.invitations.urls")),
    path("admin/", admin.site.urls),
]
