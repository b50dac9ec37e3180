/* Propusk: the host picked by typing (desk registration).
 *
 * Progressive enhancement of the host's <select data-host-search="URL">: a text field asks the
 * server (visits:host_search, behind login, at most 20 matches by name or department) as one
 * types, and choosing a match sets the select, which is hidden but still what the form sends.
 * Without script, or if a request fails, the plain select is there as before.
 */
(function () {
  "use strict";

  var DELAY_MS = 200;

  function setUp(select) {
    var url = select.dataset.hostSearch;
    var field = select.closest(".field") || select.parentNode;
    var box = document.createElement("div");
    box.className = "host-search";
    var input = document.createElement("input");
    input.type = "search";
    input.autocomplete = "off";
    input.id = select.id + "_search";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.placeholder = select.dataset.placeholder || "";
    var list = document.createElement("ul");
    list.className = "host-search-results";
    list.id = select.id + "_results";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.setAttribute("aria-controls", list.id);
    box.appendChild(input);
    box.appendChild(list);
    select.insertAdjacentElement("beforebegin", box);
    // The label now names the text field; the select stays in the form, out of sight.
    var label = field.querySelector("label[for='" + select.id + "']");
    if (label) { label.htmlFor = input.id; }
    select.hidden = true;
    select.tabIndex = -1;
    if (select.value) {
      input.value = select.options[select.selectedIndex].text;
    }

    var timer = null;
    var active = -1;
    var results = [];
    var asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function choose(result) {
      var option = select.querySelector("option[value='" + result.id + "']");
      if (!option) {
        option = new Option(result.name, String(result.id));
        select.appendChild(option);
      }
      select.value = String(result.id);
      select.dispatchEvent(new Event("change", { bubbles: true }));
      input.value = result.department ? result.name + " (" + result.department + ")" : result.name;
      close();
    }

    function mark(index) {
      var items = list.querySelectorAll("li");
      items.forEach(function (item, i) { item.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
      if (index >= 0 && items[index]) {
        input.setAttribute("aria-activedescendant", items[index].id);
        items[index].scrollIntoView({ block: "nearest" });
      }
    }

    function show(found) {
      results = found;
      list.textContent = "";
      found.forEach(function (result, i) {
        var item = document.createElement("li");
        item.id = list.id + "_" + i;
        item.setAttribute("role", "option");
        item.textContent = result.name;
        if (result.department) {
          var department = document.createElement("span");
          department.className = "muted";
          department.textContent = " " + result.department;
          item.appendChild(department);
        }
        item.addEventListener("mousedown", function (event) {
          event.preventDefault();  // keep the focus in the field
          choose(result);
        });
        list.appendChild(item);
      });
      list.hidden = found.length === 0;
      input.setAttribute("aria-expanded", found.length ? "true" : "false");
      mark(found.length ? 0 : -1);
    }

    function ask() {
      var query = input.value.trim();
      var ticket = ++asked;
      fetch(url + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (data) {
        if (ticket === asked) { show(data.results || []); }
      }).catch(function () {
        // The server cannot help: the plain list comes back.
        box.remove();
        select.hidden = false;
        select.tabIndex = 0;
        if (label) { label.htmlFor = select.id; }
      });
    }

    input.addEventListener("input", function () {
      select.value = "";
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("focus", function () { if (!input.value) { ask(); } });
    input.addEventListener("blur", function () { window.setTimeout(close, 100); });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) { return; }
      if (event.key === "ArrowDown") {
        event.preventDefault();
        mark(Math.min(active + 1, results.length - 1));
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        mark(Math.max(active - 1, 0));
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();  // choose, do not submit the form
        choose(results[active]);
      } else if (event.key === "Escape") {
        close();
      }
    });
  }

  document.querySelectorAll("select[data-host-search]").forEach(setUp);
})();
