// Log-a-session form: show only the settings of the chosen delivery method.
// Without this script every settings group is shown, and the server ignores the others.
(function () {
  "use strict";
  function sync(select) {
    var groups = document.querySelectorAll("fieldset.method-settings[data-method]");
    for (var i = 0; i < groups.length; i++) {
      groups[i].hidden = groups[i].getAttribute("data-method") !== select.value;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_delivery_method");
    if (!select) return;
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();
