from django.urls import path

from propusk.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.feed, name="feed"),
    path("<int:notification_id>/read/", views.mark_read, name="mark_read"),
    path("read/", views.mark_all_read, name="mark_all_read"),
    path("settings/", views.preferences, name="preferences"),
    path("settings/test/", views.send_test, name="send_test"),
    path("settings/telegram/link/", views.telegram_link, name="telegram_link"),
    path("settings/telegram/unlink/", views.telegram_unlink, name="telegram_unlink"),
    path("push/subscribe/", views.push_subscribe, name="push_subscribe"),
    path("push/unsubscribe/", views.push_unsubscribe, name="push_unsubscribe"),
    path("telegram/webhook/", views.telegram_webhook, name="telegram_webhook"),
]
