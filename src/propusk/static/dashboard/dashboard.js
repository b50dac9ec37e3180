// The security dashboard keeps itself up to date: every few seconds it fetches the live
// partial (#live data-url) and swaps in what changed. Plain polling, so it works with
// `make run` and behind any proxy, with no extra server.
//
// - Only sections whose content changed are replaced, and inside them every row (data-key)
//   whose HTML did not change keeps its element: a photo or camera picture already shown is
//   not fetched again (each fetch of a face is audited).
// - A row someone works in (focus in it, a note typed) is kept as it is, and its section is
//   not replaced while that row is gone from the fresh one.
// - Polling stops while the tab is hidden and starts again at once when it is shown.
// - Acknowledge/Resolve are posted in the background and the partial is fetched right after;
//   without this script the forms post as usual and land on the incident page.
(function () {
  "use strict";

  var live, status, period, fullEvery, ticks = 0, timer = null, inflight = false;

  // CSRF tokens are masked differently on each render: not a change.
  function comparable(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
  }

  // A row someone works in: focus in it, or a note typed and not yet sent.
  function busy(row) {
    var active = document.activeElement;
    if (active && active !== document.body && row.contains(active)) return true;
    var inputs = row.querySelectorAll("input[type=text]");
    for (var i = 0; i < inputs.length; i++) if (inputs[i].value) return true;
    return false;
  }

  // Move into the fresh section every old row that did not change, or that someone works
  // in. False if a row in use is gone from the fresh section: the section is then left as it
  // is until they are done (their note is not thrown away).
  function keepRows(oldSection, freshSection) {
    var fresh = {};
    freshSection.querySelectorAll("[data-key]").forEach(function (row) {
      fresh[row.getAttribute("data-key")] = row;
    });
    var keep = [];
    var rows = oldSection.querySelectorAll("[data-key]");
    for (var i = 0; i < rows.length; i++) {
      var previous = rows[i], row = fresh[previous.getAttribute("data-key")];
      var inUse = busy(previous);
      if (!row) { if (inUse) return false; continue; }
      if (inUse || comparable(previous.outerHTML) === comparable(row.outerHTML)) {
        keep.push([row, previous]);
      }
    }
    keep.forEach(function (pair) { pair[0].replaceWith(pair[1]); });
    return true;
  }

  function apply(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#live-sections");
    var current = live.querySelector("#live-sections");
    if (!fresh || !current) return;
    var active = document.activeElement;
    var caret = active && typeof active.selectionStart === "number" ?
      [active.selectionStart, active.selectionEnd] : null;
    fresh.querySelectorAll("section[id]").forEach(function (section) {
      var old = current.querySelector("#" + section.id);
      if (!old) { current.appendChild(section); return; }
      if (comparable(old.innerHTML) === comparable(section.innerHTML)) return;
      if (!keepRows(old, section)) return;
      old.replaceWith(section);
    });
    // A row moved keeps its element, but moving it takes the focus away: give it back.
    if (active && active !== document.body && active !== document.activeElement &&
        document.contains(active)) {
      active.focus();
      if (caret) active.setSelectionRange(caret[0], caret[1]);
    }
    current.setAttribute("data-taken-at", fresh.getAttribute("data-taken-at"));
    if (status) {
      var taken = new Date(fresh.getAttribute("data-taken-at"));
      status.textContent = live.getAttribute("data-updated-text") + " " +
        taken.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      status.classList.remove("bad");
    }
  }

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = null;
    if (!document.hidden) timer = window.setTimeout(refresh, ms);
  }

  function refresh() {
    if (inflight || document.hidden) return;
    inflight = true;
    // Every fullEvery-th poll asks for everything; the others leave out the slow sections
    // (expected visitors, the HikCentral link), which stay as they are on the page.
    var url = live.getAttribute("data-url") + (ticks++ % fullEvery === 0 ? "" : "?parts=quick");
    fetch(url, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
      cache: "no-store"
    }).then(function (response) {
      // Signed out meanwhile: the partial redirects to the sign-in page; show it.
      if (response.redirected || response.status === 403) { window.location.reload(); return null; }
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      inflight = false;
      if (html !== null) { apply(html); schedule(period); }
    }).catch(function () {
      inflight = false;
      if (status) {
        status.textContent = live.getAttribute("data-stale-text");
        status.classList.add("bad");
      }
      schedule(period * 2);  // the server is unreachable: try again, slower
    });
  }

  function onAction(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-board-action]")) return;
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function () {
        if (document.activeElement && form.contains(document.activeElement)) document.activeElement.blur();
        form.querySelectorAll("input[type=text]").forEach(function (input) { input.value = ""; });
      })
      .catch(function () { buttons.forEach(function (b) { b.disabled = false; }); })
      .then(function () { window.clearTimeout(timer); inflight = false; refresh(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    live = document.getElementById("live");
    if (!live) return;
    status = document.getElementById("board-status");
    period = parseInt(live.getAttribute("data-period"), 10) || 1500;
    fullEvery = parseInt(live.getAttribute("data-full-every"), 10) || 1;
    ticks = 1;  // the page itself was full: the first poll is a quick one
    live.addEventListener("submit", onAction);
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { window.clearTimeout(timer); timer = null; } else { refresh(); }
    });
    schedule(period);
  });
})();
