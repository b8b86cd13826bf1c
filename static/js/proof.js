// The proof-of-work widget (vendored ALTCHA, "external" build: no inline styles, no built-in workers) with its
// PBKDF2 solver registered as a worker served from this origin, so the CSP needs no blob: or inline source.
// The widget is most of a first visit's bytes, so this small module fetches it (script and stylesheet) only once a
// page holds a widget: the accept form, or the reveal's check form swapped in later.
const vendor = new URL("../vendor/altcha-3.2.2/", import.meta.url);
let widgetLoaded = null;

function loadWidget() {
  if (!widgetLoaded) {
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("altcha.css", vendor).href;
    document.head.append(style);
    widgetLoaded = import(new URL("altcha.min.js", vendor).href).then(() => {
      const solver = new URL("workers/pbkdf2.js", vendor);
      globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(solver));
    });
  }
  return widgetLoaded;
}

// From here the check can run. Controls that would post without it stay hidden until now (data-proof-ready), with
// a line saying so in their place (data-proof-pending): on a slow link the page is on screen long before the
// widget, and a tap on "I accept" then would post no check and the votes would not count. A form marked
// data-proof-autosubmit goes by itself as soon as its widget has solved the check (the reveal's "check" form).
function showControls(root) {
  for (const control of root.querySelectorAll("[data-proof-ready][hidden]")) control.hidden = false;
  for (const line of root.querySelectorAll("[data-proof-pending]:not([hidden])")) line.hidden = true;
  for (const widget of root.querySelectorAll("altcha-widget:not([data-watched])")) {
    widget.dataset.watched = "1";
    const form = widget.closest("form[data-proof-autosubmit]");
    if (form) widget.addEventListener("verified", () => form.requestSubmit(), { once: true });
  }
}

function ready(root) {
  if (root.querySelector("altcha-widget")) loadWidget().then(() => showControls(root));
}

ready(document);
// Forms swapped in later (htmx, or any other script) get the same treatment, before their widget can finish.
new MutationObserver((records) => {
  if (records.some((record) => record.addedNodes.length)) ready(document);
}).observe(document.documentElement, { childList: true, subtree: true });

// A visitor who presses the form's button while the browser is still solving is told to wait (the widget's
// required checkbox); rather than make them press again, the form goes as soon as the solution is in.
document.addEventListener(
  "invalid",
  (event) => {
    const widget = event.target.closest && event.target.closest("altcha-widget");
    const form = widget && widget.closest("form");
    if (!form || form.dataset.proofPending || form.dataset.proofAutosubmit !== undefined) return;
    form.dataset.proofPending = "1";
    widget.addEventListener(
      "verified",
      () => {
        delete form.dataset.proofPending;
        form.requestSubmit();
      },
      { once: true },
    );
  },
  true,
);
