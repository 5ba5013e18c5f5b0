/* Progressive enhancement only: the form works the same without this file.
   A submit button is disabled after the first tap, so a double tap sends one request
   (the server's submission id makes it exactly once in any case). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("js-once")) return;
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      });
    }, 0);
  });
  // Move focus to the error summary, so screen readers announce it and keyboards start there.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
