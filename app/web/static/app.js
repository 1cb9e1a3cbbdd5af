/* coopledger: a little progressive enhancement. Every page works without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    // The language menu changes the language as soon as one is picked.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    // A form sent once is not sent again by a second click: the buttons are disabled while
    // the page loads. (The server refuses a second posting too: each form carries a one-time
    // key, so a resubmitted page or a retried request finds the first result.)
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        var question = form.getAttribute("data-confirm");
        if (question && !window.confirm(question)) { ev.preventDefault(); return; }
        if (form.dataset.sent === "1") { ev.preventDefault(); return; }
        form.dataset.sent = "1";
        form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
          if (form.method.toLowerCase() === "post") {
            b.setAttribute("aria-disabled", "true");
            b.classList.add("busy");
          }
        });
      });
    });
    // Forms that failed: move the focus to the list of what to correct.
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
  });
  // Back/forward cache: a page shown again must accept a new submission.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form").forEach(function (f) { f.dataset.sent = ""; });
    document.querySelectorAll(".busy").forEach(function (b) {
      b.classList.remove("busy"); b.removeAttribute("aria-disabled");
    });
  });
})();
