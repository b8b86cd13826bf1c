// Keyboard shortcuts (A, B, T, X vote; N opens a new battle) and focus after htmx swaps.
// Served as a file: the CSP forbids inline script.
(function () {
  "use strict";

  function typingInField(target) {
    if (!target) return false;
    var tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingInField(event.target)) return;
    var key = (event.key || "").toLowerCase();
    if (!/^[abtxn]$/.test(key)) return;
    var control = document.querySelector('#battle [data-key="' + key + '"]');
    if (!control || control.disabled) return;
    event.preventDefault();
    control.click();
  });

  // After a swap, move focus to the new content's heading so keyboard and screen-reader users
  // land on what changed rather than on a removed element.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    var root = target && target.isConnected ? target : document.getElementById("battle");
    if (!root) return;
    var focus = root.querySelector("[autofocus]") || root.querySelector("[data-focus-after-swap]");
    if (focus) focus.focus();
  });

  // A vote is in flight: block double submits from impatient clicks and repeated keys.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (form && form.matches && form.matches("form.vote")) {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (form && form.isConnected && form.matches && form.matches("form.vote")) {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  });
})();
