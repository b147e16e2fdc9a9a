// "Sign in with the app": poll the request's status; once approved, press "Continue" (the form
// works without this script too); once refused or expired, reload to show why.
(function () {
  "use strict";
  var box = document.querySelector("[data-app-wait]");
  var form = document.querySelector("[data-app-continue]");
  if (!box || !form || !window.fetch) { return; }
  var done = false;
  function check() {
    if (done) { return; }
    fetch(box.dataset.status, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.status === "approved") { done = true; form.submit(); }
        else if (data.status === "refused" || data.status === "expired") { done = true; window.location.assign(box.dataset.wait); }
        else { window.setTimeout(check, 2000); }
      })
      .catch(function () { window.setTimeout(check, 4000); });
  }
  window.setTimeout(check, 1500);
})();
