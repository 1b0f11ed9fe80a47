/* The draft editor: add and remove rows (buttons, template parameters), and a live preview
   drawn by the server (one source of truth for every count), fetched ~250 ms after typing stops.
   Every text comes from the page (data- attributes), none is written here. */
(function () {
  "use strict";

  function renumber(list) {
    list.querySelectorAll("[data-rows] > [data-row]").forEach(function (row, index) {
      var n = String(index + 1);
      row.querySelectorAll("label[data-label]").forEach(function (label) {
        var input = document.getElementById(label.htmlFor);
        var id = label.htmlFor.replace(/_(\d+|__n__)(_|$)/, "_" + n + "$2");
        label.textContent = label.dataset.label.replace("__n__", n);
        label.htmlFor = id;
        if (input) { input.id = id; }
      });
      row.querySelectorAll("button[data-label]").forEach(function (button) {
        button.setAttribute("aria-label", button.dataset.label.replace("__n__", n));
      });
    });
  }

  function setUpRows(list, changed) {
    var rows = list.querySelector("[data-rows]");
    var template = list.querySelector("template[data-row-template]");
    list.querySelector("[data-add-row]").addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      renumber(list);
      var first = row.querySelector("input");
      if (first) { first.focus(); }
      changed();
    });
    rows.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-row]");
      if (!remove) { return; }
      remove.closest("[data-row]").remove();
      renumber(list);
      changed();
    });
  }

  function setUpPreview(form, region) {
    var timer = null;
    var asked = 0;

    function refresh() {
      var mine = ++asked;
      fetch(region.dataset.previewUrl, {method: "POST", body: new FormData(form), credentials: "same-origin",
                                        headers: {"X-Requested-With": "XMLHttpRequest"}})
        .then(function (answer) {
          if (answer.ok) { return answer.text().then(function (html) { return {html: html}; }); }
          return answer.json().then(function (json) { return {errors: json.errors || {}}; },
                                    function () { return {errors: {"": [String(answer.status)]}}; });
        })
        .then(function (result) {
          if (mine !== asked) { return; }  // a later answer is on its way
          if (result.html !== undefined) { region.innerHTML = result.html; return; }
          var problem = document.createElement("p");
          problem.className = "tact-over";
          problem.textContent = region.dataset.errorText + " " + Object.keys(result.errors).map(function (field) {
            return (field ? field + ": " : "") + result.errors[field].join(" ");
          }).join("; ");
          region.replaceChildren(problem);
        })
        .catch(function () { /* offline for a moment: the next keystroke tries again */ });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }

    form.addEventListener("input", schedule);
    return schedule;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var region = document.getElementById("draft-preview");
    var form = region ? region.closest("form") : null;
    var changed = form ? setUpPreview(form, region) : function () {};
    document.querySelectorAll("[data-row-list]").forEach(function (list) {
      setUpRows(list, changed);
    });
    if (form) { changed(); }
  });
})();
