// Keyboard shortcuts (A, B, T, X vote; N opens a new battle) and focus after htmx swaps.
// Served as a file: the CSP forbids inline script.
(function () {
  "use strict";

  var reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;

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

  // After a swap, move focus into the new content (the reveal's "New battle" link, a new battle's heading,
  // the chosen emotion tab) so keyboard and screen-reader users land on what changed, not on a removed element.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    var root = target && target.isConnected ? target : document.getElementById("battle");
    if (!root) return;
    var focus = root.querySelector("[autofocus]") || root.querySelector("[data-focus-after-swap]");
    // A reveal swapped in where the visitor had scrolled to the vote bar: bring its heading, the model names and
    // "New battle" into view (focusing the link alone would leave the heading above the screen).
    var scrollTarget = root.matches("[data-scroll-into-view]") ? root : root.querySelector("[data-scroll-into-view]");
    if (focus) focus.focus({ preventScroll: Boolean(scrollTarget) });
    if (scrollTarget) scrollTarget.scrollIntoView({ block: "start", behavior: reducedMotion && reducedMotion.matches ? "auto" : "smooth" });
  });

  // Visitors who ask for less motion get swaps without htmx's settle pause (the CSS drops the fades).
  var settleDelay = window.htmx ? window.htmx.config.defaultSettleDelay : 0;
  function applyMotionPreference() {
    if (window.htmx && reducedMotion) window.htmx.config.defaultSettleDelay = reducedMotion.matches ? 0 : settleDelay;
  }
  applyMotionPreference();
  if (reducedMotion && reducedMotion.addEventListener) reducedMotion.addEventListener("change", applyMotionPreference);

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
