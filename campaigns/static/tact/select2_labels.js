/* Search-as-you-type pickers (the admin's autocomplete fields, drawn by select2) named by their
 * field's label, for screen readers and axe: select2 names its box by the chosen value only, so an
 * empty picker (a new campaign's draft and segment) had no name at all. Loaded on every admin page
 * (settings.UNFOLD["SCRIPTS"]); pickers added later (inline rows) are named when they appear. */
(function () {
  "use strict";

  function labelFor(select) {
    if (!select.id) return null;
    var label = document.querySelector('label[for="' + select.id + '"]');
    if (!label) return null;
    if (!label.id) label.id = select.id + "_label";
    return label;
  }

  function name(selection) {
    var container = selection.querySelector(".select2-selection__rendered[id]");
    if (!container || selection.dataset.tactNamed) return;
    var match = /^select2-(.+)-container$/.exec(container.id);
    var select = match && document.getElementById(match[1]);
    var label = select && labelFor(select);
    if (!label) return;
    selection.dataset.tactNamed = "1";
    // The combobox: the field's label, then the value chosen (if any).
    selection.setAttribute("aria-labelledby", label.id + " " + container.id);
    // The value's read-only box: the field's label too (select2 keeps only a title on it).
    container.setAttribute("aria-label", label.textContent.replace(/\s+/g, " ").replace(/[\s:*]+$/, "").trim());
  }

  function nameAll(root) {
    if (root.querySelectorAll) root.querySelectorAll(".select2-selection[role=combobox]").forEach(name);
  }

  function start() {
    nameAll(document);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) { change.addedNodes.forEach(nameAll); });
    }).observe(document.body, {childList: true, subtree: true});
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
