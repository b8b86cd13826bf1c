// The proof-of-work widget (vendored ALTCHA, "external" build: no inline styles, no built-in workers) with its
// PBKDF2 solver registered as a worker served from this origin, so the CSP needs no blob: or inline source.
import "../vendor/altcha-3.2.2/altcha.min.js";

const solver = new URL("../vendor/altcha-3.2.2/workers/pbkdf2.js", import.meta.url);
globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(solver));

// A visitor who presses the form's button while the browser is still solving is told to wait (the widget's
// required checkbox); rather than make them press again, the form goes as soon as the solution is in.
document.addEventListener(
  "invalid",
  (event) => {
    const widget = event.target.closest && event.target.closest("altcha-widget");
    const form = widget && widget.closest("form");
    if (!form || form.dataset.proofPending) return;
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
