from django.urls import path

from propusk.visits import views

app_name = "visits"
urlpatterns = [
    path("", views.visit_list, name="list"),
    path("today/", views.reception, name="reception"),
    # A POST: the ID number is never in a URL.
    path("search/id/", views.search_by_id, name="search_by_id"),
    path("hosts/search/", views.host_search, name="host_search"),
    path("groups/<int:group_id>/check-in/", views.group_check_in, name="group_check_in"),
    path("register/", views.register, name="register"),
    path("register/find/", views.register_lookup, name="register_lookup"),
    path("groups/<int:group_id>/register/", views.register_member, name="register_member"),
    path(
        "groups/<int:group_id>/register/find/",
        views.register_member_lookup,
        name="register_member_lookup",
    ),
    path("<int:visit_id>/", views.detail, name="detail"),
    path("<int:visit_id>/check-in/", views.check_in, name="check_in"),
    path("<int:visit_id>/check-out/", views.check_out, name="check_out"),
    path("<int:visit_id>/cancel/", views.cancel, name="cancel"),
    path("<int:visit_id>/time/", views.change_window, name="change_window"),
    path("<int:visit_id>/confirm/", views.confirm, name="confirm"),
    path("<int:visit_id>/photo/", views.photo, name="photo"),
    path("<int:visit_id>/identity/", views.identity, name="identity"),
]
