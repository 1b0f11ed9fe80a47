// The segment builder (campaigns/admin/segment_builder.py): tag chips, attribute rows, the
// kind toggle and the live count. Every text comes from the page (data- attributes, <template>).
(function () {
  "use strict";

  function setUp(root) {
    var name = root.dataset.name;
    var prefix = name + "__";
    var form = root.closest("form");
    var timer = null;
    var lastQuery = null;

    function addChip(picker, text) {
      var part = picker.dataset.tagPicker;
      var chips = picker.querySelector("[data-chips]");
      var names = text.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
      names.forEach(function (tag) {
        var taken = Array.prototype.some.call(chips.querySelectorAll("input"), function (i) { return i.value === tag; });
        if (taken) return;
        var chip = root.querySelector("[data-chip-template]").content.firstElementChild.cloneNode(true);
        chip.querySelector("[data-chip-text]").textContent = tag;
        var hidden = chip.querySelector("input");
        hidden.name = prefix + part;
        hidden.value = tag;
        chip.querySelector("[data-remove-chip]").setAttribute("aria-label", root.dataset.textRemoveTag.replace("%(tag)s", tag));
        chips.appendChild(chip);
      });
    }

    function commitTyped(picker) {
      var input = picker.querySelector("[data-tag-input]");
      if (input.value.trim()) {
        addChip(picker, input.value);
        input.value = "";
      }
    }

    root.querySelectorAll("[data-tag-picker]").forEach(function (picker) {
      var input = picker.querySelector("[data-tag-input]");
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === ",") {
          event.preventDefault();
          commitTyped(picker);
          schedule();
        } else if (event.key === "Backspace" && !input.value) {
          var chips = picker.querySelectorAll("[data-chip]");
          if (chips.length) { chips[chips.length - 1].remove(); schedule(); }
        }
      });
      // Picking a suggestion from the list fires "input" with the whole name: make it a chip.
      input.addEventListener("input", function (event) {
        if (event.inputType === "insertReplacementText") {
          var options = Array.prototype.map.call(root.querySelectorAll("datalist option"), function (o) { return o.value; });
          if (options.indexOf(input.value) !== -1) { commitTyped(picker); }
        }
        schedule();
      });
      picker.querySelector("[data-add-chip]").addEventListener("click", function () {
        commitTyped(picker);
        input.focus();
        schedule();
      });
      picker.addEventListener("click", function (event) {
        var remove = event.target.closest("[data-remove-chip]");
        if (!remove) return;
        remove.closest("[data-chip]").remove();
        input.focus();
        schedule();
      });
    });

    var rows = root.querySelector("[data-attribute-rows]");
    root.querySelector("[data-add-row]").addEventListener("click", function () {
      var row = root.querySelector("[data-row-template]").content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
    rows.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-row]");
      if (!remove) return;
      remove.closest("[data-attribute-row]").remove();
      root.querySelector("[data-add-row]").focus();
      schedule();
    });

    root.addEventListener("input", schedule);
    root.addEventListener("change", schedule);
    if (form) {
      form.addEventListener("submit", function () {
        root.querySelectorAll("[data-tag-picker]").forEach(commitTyped);
      });
    }

    function query() {
      var params = new URLSearchParams();
      root.querySelectorAll("input[name^='" + prefix + "']").forEach(function (input) {
        if (input.disabled || (input.type === "checkbox" && !input.checked)) return;
        params.append(input.name.slice(prefix.length), input.value);
      });
      return params.toString();
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(count, 300);
    }

    function count() {
      if (!enabled()) return;
      var q = query();
      if (q === lastQuery) return;
      lastQuery = q;
      var summary = root.querySelector("[data-count-summary]");
      var warning = root.querySelector("[data-count-warning]");
      root.setAttribute("aria-busy", "true");
      fetch(root.dataset.countUrl + "?" + q, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
        .then(function (result) {
          if (q !== lastQuery) return;  // a newer count is on its way
          var body = result[1];
          if (!result[0]) {
            var errors = body.errors || {};
            summary.textContent = root.dataset.textCountFailed + " " + Object.keys(errors).map(function (k) { return errors[k].join(" "); }).join(" ");
            root.querySelectorAll("[data-count-platform]").forEach(function (el) { el.textContent = "–"; });
            warning.hidden = true;
            return;
          }
          summary.textContent = body.summary;
          root.querySelectorAll("[data-count-platform]").forEach(function (el) {
            el.textContent = body.sizes[el.dataset.countPlatform];
          });
          warning.textContent = body.warning;
          warning.hidden = !body.warning;
        })
        .catch(function () { lastQuery = null; })
        .finally(function () { root.removeAttribute("aria-busy"); });
    }

    // The kind: the builder for dynamic segments, the members picker for static ones. A row
    // with an error stays visible, so the error can be read.
    function kind() {
      var checked = form && form.querySelector("input[name='kind']:checked");
      if (checked) return checked.value;
      var select = form && form.querySelector("select[name='kind']");
      return select ? select.value : "dynamic";
    }
    function enabled() { return kind() === "dynamic"; }
    function toggle() {
      var dynamic = enabled();
      var builderRow = root.closest(".field-" + name) || root;
      var membersRow = form && form.querySelector(".field-members");
      builderRow.hidden = !dynamic && !builderRow.classList.contains("errors");
      if (membersRow) membersRow.hidden = dynamic && !membersRow.classList.contains("errors");
      root.querySelectorAll("input, button").forEach(function (el) { el.disabled = !dynamic; });
      if (dynamic) schedule();
    }
    if (form) {
      form.querySelectorAll("[name='kind']").forEach(function (el) { el.addEventListener("change", toggle); });
    }
    toggle();
  }

  function start() { document.querySelectorAll("[data-segment-builder]").forEach(setUp); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
