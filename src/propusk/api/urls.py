"""/api/v1/: the REST API (docs/api.md). Versioned by its path: a change that would break a
client comes as /api/v2/ beside this one."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from propusk.api import views
from propusk.api.errors import not_found


class SchemaView(views.ApiViewMixin, SpectacularAPIView):
    """The OpenAPI 3 schema: for any signed-in user or token (not anonymous)."""

    permission_classes = [IsAuthenticated]
    # JSON first (errors too, in the API's one shape); ?format=yaml for YAML.
    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]


def _login_not_required(view: Any) -> Any:
    view.login_required = False
    return view


app_name = "api"

router = SimpleRouter()
router.register("visits", views.VisitViewSet, basename="visit")
router.register("invitations", views.InvitationViewSet, basename="invitation")

urlpatterns = [
    path("v1/me/", views.MeView.as_view(), name="me"),
    path(
        "v1/passages/<int:pk>/picture/",
        views.PassagePictureView.as_view(),
        name="passage-picture",
    ),
    path("v1/schema/", SchemaView.as_view(), name="schema"),
    # Browser pages: the site's sign-in page first (DRF's views skip LoginRequiredMiddleware).
    path(
        "v1/docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "v1/redoc/",
        login_required(
            SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")
        ),
        name="redoc",
    ),
    path("v1/", include(router.urls)),
    # Any other address under /api/: a 404 in the API's error shape.
    re_path(r"^.*$", _login_not_required(not_found)),
]
