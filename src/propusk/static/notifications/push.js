/* The "Enable on this browser" button of the notification settings: registers the service
   worker, subscribes with the site's VAPID public key and sends the subscription to the
   site (signed in, with the CSRF token). */
(function () {
  "use strict";

  var card = document.getElementById("webpush");
  if (!card) { return; }
  var enable = card.querySelector("[data-push-enable]");
  var disable = card.querySelector("[data-push-disable]");
  var status = card.querySelector("[data-push-status]");
  var texts = card.querySelector("template[data-push-messages]");

  function say(key) {
    var node = texts && texts.content.querySelector("[data-key='" + key + "']");
    status.textContent = node ? node.textContent : key;
    status.hidden = false;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) { return decodeURIComponent(match[1]); }
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response;
    });
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function show(subscribed) {
    enable.hidden = subscribed;
    disable.hidden = !subscribed;
    say(subscribed ? "enabled" : "disabled");
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) {
    say("unsupported");
    return;
  }
  if (window.Notification && Notification.permission === "denied") {
    say("denied");
    return;
  }

  var registration = navigator.serviceWorker.register(card.dataset.worker);
  registration.then(function (reg) { return reg.pushManager.getSubscription(); })
    .then(function (subscription) { show(Boolean(subscription)); })
    .catch(function () { say("failed"); });

  enable.addEventListener("click", function () {
    enable.disabled = true;
    registration.then(function (reg) {
      return reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(card.dataset.publicKey),
      });
    }).then(function (subscription) {
      return post(card.dataset.subscribeUrl, subscription.toJSON());
    }).then(function () { show(true); })
      .catch(function () {
        say(window.Notification && Notification.permission === "denied" ? "denied" : "failed");
      })
      .then(function () { enable.disabled = false; });
  });

  disable.addEventListener("click", function () {
    disable.disabled = true;
    registration.then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (subscription) {
        if (!subscription) { return null; }
        return post(card.dataset.unsubscribeUrl, { endpoint: subscription.endpoint })
          .then(function () { return subscription.unsubscribe(); });
      }).then(function () { show(false); })
      .catch(function () { say("failed"); })
      .then(function () { disable.disabled = false; });
  });
})();
