// Sign in with the national app: poll Masar (which polls the IdP, CIBA §10.1) every `interval`
// seconds until the citizen approves, declines, or the request ends. Without this script the
// "Continue" button does the same, one poll per press.
(function () {
  "use strict";
  var form = document.getElementById("ciba-continue");
  if (!form || !window.fetch) { return; }
  var interval = parseInt(form.getAttribute("data-interval"), 10) || 5;

  function poll() {
    fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.state === "done") { window.location.assign(answer.next); return; }
        interval = answer.interval || interval;
        window.setTimeout(poll, interval * 1000);
      })
      .catch(function () { window.setTimeout(poll, interval * 1000); });
  }
  window.setTimeout(poll, interval * 1000);
}());
