// Signet console: small progressive enhancements (no inline script; CSP script-src 'self').
// Every page works without this file: forms post and the server redirects back.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Irreversible actions (deny, revoke, skip) ask first. The question is the form's
  // data-confirm attribute, written by the server.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // The CA picker switches as soon as another CA is chosen.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  // A form's buttons are disabled once it is sent, so a double click acts once.
  for (const form of document.querySelectorAll("main form[method=post]")) {
    form.addEventListener("submit", (event) => {
      if (event.defaultPrevented) return;
      setTimeout(() => {
        for (const b of form.querySelectorAll("button")) b.disabled = true;
      }, 0);
    });
  }
});
