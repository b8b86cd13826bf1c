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

  // Between a swap and its settle, htmx has not yet wired the new controls: a click then would submit the form
  // or follow the link without htmx (a full page load). A key pressed in that moment waits for the settle.
  var swapping = false;
  var pendingKey = null;

  function usableControl(key) {
    var control = document.querySelector('#battle [data-key="' + key + '"]');
    return control && !control.disabled ? control : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingInField(event.target)) return;
    var key = (event.key || "").toLowerCase();
    if (!/^[abtxn]$/.test(key)) return;
    var control = usableControl(key);
    if (!control) return;
    event.preventDefault();
    if (swapping) pendingKey = key;
    else control.click();
  });
  document.addEventListener("htmx:afterSwap", function () {
    swapping = true;
    // Should a settle never come, keys must not wait for ever.
    window.setTimeout(function () { swapping = false; }, 1000);
  });

  // After a swap, move focus into the new content (the reveal's "New battle" link, a new battle's heading,
  // the chosen emotion tab) so keyboard and screen-reader users land on what changed, not on a removed element.
  document.addEventListener("htmx:afterSettle", function (event) {
    swapping = false;
    var target = event.detail && event.detail.elt;
    var root = target && target.isConnected ? target : document.getElementById("battle");
    if (root) focusSwapped(root);
    var pending = pendingKey && usableControl(pendingKey);
    pendingKey = null;
    if (pending) pending.click();
  });

  function focusSwapped(root) {
    var focus = root.querySelector("[data-autofocus]") || root.querySelector("[data-focus-after-swap]");
    // A reveal swapped in where the visitor had scrolled to the vote bar: bring its heading, the model names and
    // "New battle" into view (focusing the link alone would leave the heading above the screen).
    var scrollTarget = root.matches("[data-scroll-into-view]") ? root : root.querySelector("[data-scroll-into-view]");
    if (focus) focus.focus({ preventScroll: Boolean(scrollTarget) });
    if (scrollTarget) scrollTarget.scrollIntoView({ block: "start", behavior: reducedMotion && reducedMotion.matches ? "auto" : "smooth" });
  }

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
