/* Propusk: a few progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Forms that undo something ask first: <form data-confirm="Cancel this visit?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    // Feedback while a slow upload (a phone photo) is on its way; no second submit.
    if (form.enctype === "multipart/form-data") {
      var buttons = form.querySelectorAll("button[type=submit]");
      window.setTimeout(function () {
        buttons.forEach(function (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); });
      }, 0);
    }
  });
  // Coming back with the Back button shows the page as it was left: make it usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[aria-busy]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });

  // "Copy" buttons next to a read-only link: <button data-copy="input-id" data-copied="Copied" hidden>.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field) { return; }
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener("click", function () {
      field.focus();
      field.select();
      var done = function () {
        button.textContent = button.dataset.copied || label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand("copy")) { done(); }
        });
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });
  document.querySelectorAll(".copy-link input[readonly]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });

  // The face photo: show the chosen picture before it is sent.
  document.querySelectorAll("input[type=file][accept^='image']").forEach(function (input) {
    var preview = null;
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (preview) {
        URL.revokeObjectURL(preview.src);
        preview.remove();
        preview = null;
      }
      if (!file || !/^image\//.test(file.type)) { return; }
      preview = document.createElement("img");
      preview.className = "photo photo-preview";
      preview.alt = "";
      preview.width = 120;
      preview.src = URL.createObjectURL(file);
      input.insertAdjacentElement("afterend", preview);
    });
  });

  // A form sent back with errors: bring the first one into view (long forms, small screens).
  var firstError = document.querySelector(".has-errors, .errors");
  if (firstError && firstError.getBoundingClientRect().top > window.innerHeight) {
    firstError.scrollIntoView({ block: "center" });
  }
})();
