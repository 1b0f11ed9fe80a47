// The draft editor's WhatsApp template picker: show the variable rows of the picked template only.
(function () {
  "use strict";
  function show(picker) {
    var picked = picker.querySelector("[data-template-pick]").value;
    picker.querySelectorAll("[data-template-variables]").forEach(function (group) {
      group.hidden = group.getAttribute("data-template-variables") !== picked;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-template-picker]").forEach(function (picker) {
      picker.querySelector("[data-template-pick]").addEventListener("change", function () { show(picker); });
      show(picker);
    });
  });
})();
