// safetylens human evaluation: keyboard shortcuts and time measurement on the rating page.
// Hand-written, no dependencies; loaded from this origin only (the CSP forbids inline scripts).
(function () {
  "use strict";

  function initRawToggles() {
    document.querySelectorAll("[data-raw-toggle]").forEach(function (box) {
      var btn = box.querySelector(".toggle-raw");
      var raw = box.querySelector(".raw");
      var rendered = box.querySelector(".rendered");
      if (!btn || !raw || !rendered) return;
      btn.addEventListener("click", function () {
        var showRaw = raw.hidden;
        raw.hidden = !showRaw;
        rendered.hidden = showRaw;
        btn.textContent = showRaw ? "show formatted text" : "show raw text";
      });
    });
  }

  function initRating() {
    var form = document.getElementById("rating-form");
    if (!form) return;
    var max = parseInt(form.getAttribute("data-scale-max"), 10) || 5;
    var spentField = document.getElementById("time_spent_ms");
    var comment = document.getElementById("comment");
    var panel = document.querySelector(".guidelines-panel");

    // Active time only: the clock stops while the tab is hidden.
    var spent = 0;
    var since = document.hidden ? null : performance.now();
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        if (since !== null) { spent += performance.now() - since; since = null; }
      } else if (since === null) {
        since = performance.now();
      }
    });
    function elapsed() { return Math.round(spent + (since !== null ? performance.now() - since : 0)); }

    var submitted = false;
    form.addEventListener("submit", function (ev) {
      if (submitted) { ev.preventDefault(); return; }  // no double submissions
      if (!form.querySelector("input[name=value]:checked")) return;  // let the browser say "required"
      spentField.value = String(elapsed());
      submitted = true;
    });

    function choose(n) {
      var input = document.getElementById("v" + n);
      if (input) { input.checked = true; input.focus(); }
    }

    document.addEventListener("keydown", function (ev) {
      if (ev.defaultPrevented || ev.altKey || ev.metaKey) return;
      var inText = ev.target === comment;
      if (inText) {
        if (ev.key === "Enter" && ev.ctrlKey) { ev.preventDefault(); form.requestSubmit(); }
        else if (ev.key === "Escape") { comment.blur(); }
        return;
      }
      if (ev.ctrlKey) return;
      if (/^[1-9]$/.test(ev.key) && parseInt(ev.key, 10) <= max) {
        ev.preventDefault();
        choose(ev.key);
      } else if (ev.key === "Enter") {
        ev.preventDefault();
        if (form.querySelector("input[name=value]:checked")) form.requestSubmit();
      } else if (ev.key === "c") {
        ev.preventDefault();
        comment.focus();
      } else if (ev.key === "g" && panel) {
        ev.preventDefault();
        panel.open = !panel.open;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initRawToggles();
    initRating();
  });
})();
