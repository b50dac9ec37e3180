// The access card of a visit refreshes itself while a change is on its way to HikCentral
// (the card carries data-settling), so staff see HikCentral confirm an operation without
// reloading. It stops once the card settles, and while the page is hidden or a reason is
// being typed.
(function () {
  "use strict";
  var PERIOD_MS = 3000;

  function busy(card) {
    var active = document.activeElement;
    return card.contains(active) && active.tagName !== "BODY" ||
      card.querySelector("details[open]") !== null;
  }

  function tick() {
    var card = document.getElementById("access");
    if (!card || !card.hasAttribute("data-settling")) return;
    if (document.hidden || busy(card)) { setTimeout(tick, PERIOD_MS); return; }
    fetch(card.getAttribute("data-refresh-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("#access");
      if (fresh) card.replaceWith(fresh);
      setTimeout(tick, PERIOD_MS);
    }).catch(function () {
      setTimeout(tick, PERIOD_MS * 3);  // the server is unreachable: try again, slower
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setTimeout(tick, PERIOD_MS); });
})();
