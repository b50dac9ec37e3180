from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from django.views.i18n import set_language

from propusk.accounts.forms import SignInForm
from propusk.core import views as core_views

# The admin, branded (templates/admin/base_site.html): Propusk and the organisation's name.
admin.site.site_title = gettext_lazy("Propusk administration")
admin.site.site_header = (
    format_lazy("{} · {}", gettext_lazy("Propusk administration"), settings.ORG_NAME)
    if settings.ORG_NAME
    else gettext_lazy("Propusk administration")
)
admin.site.index_title = gettext_lazy("Visitors, visits and access")

# An unexpected error under /api/ answers in the API's error shape (docs/api.md, Errors).
handler500 = "propusk.api.errors.server_error"

urlpatterns = [
    path("", core_views.home, name="home"),
    # Throttled (propusk.accounts.signin); the admin's sign-in uses AdminSignInForm likewise.
    path("login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Open without login: a visitor on the public invitation page switches the language too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("visits/", include("propusk.visits.urls")),
    path("visitors/", include("propusk.visitors.urls")),
    path("invitations/", include("propusk.invitations.urls")),
    path("notifications/", include("propusk.notifications.urls")),
    path("passages/", include("propusk.passages.urls")),
    path("dashboard/", include("propusk.dashboard.urls")),
    # HikCentral's event push (OnEventNotify): authenticated by the token in the path.
    path("hcp/events/", include("propusk.events.urls")),
    path("access/", include("propusk.access.urls")),
    # Prometheus: a bearer token, or a signed-in administrator or security (docs/metrics.md).
    path("metrics", include("propusk.metrics.urls")),
    path("api/", include("propusk.api.urls")),
    path("admin/", admin.site.urls),
]
