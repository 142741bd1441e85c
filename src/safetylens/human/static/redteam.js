// safetylens red teaming: disable the send button while the model answers (no double sends).
// Loaded from this origin only (the CSP forbids inline scripts).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("chat-form");
    if (!form) return;
    var sent = false;
    form.addEventListener("submit", function (ev) {
      if (sent) { ev.preventDefault(); return; }
      sent = true;
      document.getElementById("send").disabled = true;
      document.getElementById("sending").hidden = false;
    });
    var box = document.getElementById("message-text");
    if (box) {
      box.focus();
      box.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && ev.ctrlKey) { ev.preventDefault(); form.requestSubmit(); }
      });
    }
  });
})();
