/* Propusk service worker: shows a pushed notification and opens its page when clicked.
   The push's payload is {"title", "body", "url"} (propusk.notifications.channels). */
"use strict";

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: "Propusk", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Propusk", {
      body: data.body || "",
      data: { url: data.url || "/" },
      tag: data.url || undefined,
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.openWindow(url));
});
