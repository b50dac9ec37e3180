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

  // "Find" next to the ID number (staff registration): Enter in that field finds the
  // returning visitor instead of registering. Without this file Enter registers.
  document.querySelectorAll("button[data-lookup-for]").forEach(function (button) {
    var field = document.getElementById(button.dataset.lookupFor);
    if (!field) { return; }
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        button.click();
      }
    });
  });

  // Registration: show only what the choices need - the duration for a visit that starts
  // now, the start for a planned one, the student block for a student visit.
  var modes = document.querySelectorAll("input[name=mode]");
  var kinds = document.querySelectorAll("input[name=kind]");
  var fieldOf = function (id) {
    var input = document.getElementById(id);
    return input ? input.closest(".field") : null;
  };
  var duration = fieldOf("id_duration");
  var start = fieldOf("id_planned_start");
  var student = document.getElementById("id_student_id");
  var studentBlock = student ? student.closest("section") : null;
  var checked = function (radios) {
    var value = "";
    radios.forEach(function (radio) { if (radio.checked) { value = radio.value; } });
    return value;
  };
  var showChoices = function () {
    if (duration && start && modes.length) {
      var now = checked(modes) === "now";
      duration.hidden = !now;
      var spacer = duration.nextElementSibling;
      if (spacer && spacer.classList.contains("spacer")) { spacer.hidden = !now; }
      start.hidden = now && !start.classList.contains("has-errors");
    }
    if (studentBlock && kinds.length) {
      studentBlock.hidden = checked(kinds) !== "student" && !studentBlock.querySelector(".has-errors");
    }
    // New invitation: the group name and the number of registrations are for a group only.
    [fieldOf("id_group_name"), fieldOf("id_max_uses")].forEach(function (field) {
      if (field && kinds.length) {
        field.hidden = checked(kinds) !== "group" && !field.classList.contains("has-errors");
      }
    });
  };
  modes.forEach(function (radio) { radio.addEventListener("change", showChoices); });
  kinds.forEach(function (radio) { radio.addEventListener("change", showChoices); });
  showChoices();

  // A form sent back with errors: bring the first one into view (long forms, small screens).
  var firstError = document.querySelector(".has-errors, .errors");
  if (firstError && firstError.getBoundingClientRect().top > window.innerHeight) {
    firstError.scrollIntoView({ block: "center" });
  }
})();
