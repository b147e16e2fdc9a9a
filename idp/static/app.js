// The National SSO approval app (issue 14): enrol this phone (a WebAuthn registration), then poll
// for the identity's pending sign-in, show its three numbers, and approve the one tapped with an
// assertion whose challenge the server bound to that request and number. Loaded as a file (CSP).
(function () {
  "use strict";
  var TOKEN = "idp-app-token", POLL_MS = 2500;

  var toBytes = WebAuthnJSON.toBytes, credentialJSON = WebAuthnJSON.credential;
  function call(url, method, headers, body) {
    headers["Content-Type"] = "application/json";
    return fetch(url, {method: method, headers: headers, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return {status: r.status, data: data}; });
    });
  }
  function say(box, message) {
    var m = box.querySelector("[data-message]");
    m.textContent = message || "";
    m.hidden = !message;
  }

  // --- enrolment (the page the QR code's link opens) ---
  var enrolBox = document.querySelector("[data-enrol]");
  if (enrolBox) {
    var csrf = {"X-CSRFToken": enrolBox.dataset.csrf};
    enrolBox.querySelector("button").addEventListener("click", function () {
      say(enrolBox, "");
      call(enrolBox.dataset.options, "POST", Object.assign({}, csrf), {link: enrolBox.dataset.link}).then(function (r) {
        if (r.status !== 200) { throw new Error(r.data.error); }
        var o = r.data;
        o.challenge = toBytes(o.challenge);
        o.user.id = toBytes(o.user.id);
        (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({publicKey: o});
      }).then(function (credential) {
        return call(enrolBox.dataset.verify, "POST", Object.assign({}, csrf), {link: enrolBox.dataset.link,
          credential: credentialJSON(credential), name: enrolBox.querySelector("[data-device-name]").value});
      }).then(function (r) {
        if (r.status !== 200) { throw new Error(r.data.error); }
        localStorage.setItem(TOKEN, r.data.token);
        window.location.assign(enrolBox.dataset.home);
      }).catch(function (e) { say(enrolBox, (e && e.message) || enrolBox.dataset.failed); });
    });
  }

  // --- approving ---
  var app = document.querySelector("[data-app]");
  if (!app) { return; }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(app.dataset.worker, {scope: app.dataset.scope}).catch(function () {});
  }
  var shown = null, busy = false, timer = null;
  function bearer() { return {"Authorization": "Bearer " + localStorage.getItem(TOKEN)}; }
  function state(name) {
    app.querySelectorAll("[data-state]").forEach(function (s) { s.hidden = s.dataset.state !== name; });
  }
  function status(message) {
    var s = app.querySelector("[data-status]");
    s.textContent = message || "";
    s.hidden = !message;
  }
  function field(name, value) { app.querySelector('[data-field="' + name + '"]').textContent = value; }

  function render(request) {
    if (!request) { shown = null; state("idle"); return; }
    if (shown === request.id) { return; }
    shown = request.id;
    say(app, ""); status("");
    var arabic = document.documentElement.lang === "ar";
    field("portal", arabic ? request.portal_ar : request.portal_en);
    field("time", request.time);
    field("place", request.place || app.dataset.unknownPlace);
    var choices = app.querySelector("[data-choices]");
    choices.textContent = "";
    request.choices.forEach(function (n) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = n; b.dir = "ltr"; b.dataset.number = n;
      b.addEventListener("click", function () { approve(request.id, n); });
      choices.appendChild(b);
    });
    state("request");
  }
  function finished(message, alert) {
    shown = null;
    state(null);
    if (alert) { say(app, message); } else { status(message); }
  }
  function approve(id, number) {
    if (busy) { return; }
    busy = true;
    var base = app.dataset.requests + encodeURIComponent(id);
    call(base + "/options", "POST", bearer(), {number: number}).then(function (r) {
      if (r.status !== 200) { throw new Error(r.data.error); }
      var o = r.data;
      o.challenge = toBytes(o.challenge);
      (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      return navigator.credentials.get({publicKey: o});
    }).then(function (credential) {
      return call(base + "/approve", "POST", bearer(), {number: number, credential: credentialJSON(credential)});
    }).then(function (r) {
      if (r.status === 200) { finished(app.dataset.approved, false); }
      else { finished(r.data.error || app.dataset.failed, true); }
    }).catch(function (e) { say(app, (e && e.message) || app.dataset.failed); })
      .then(function () { busy = false; });
  }
  app.querySelector("[data-deny]").addEventListener("click", function () {
    if (!shown || busy) { return; }
    call(app.dataset.requests + encodeURIComponent(shown) + "/deny", "POST", bearer(), {}).then(function (r) {
      finished(r.status === 200 ? app.dataset.denied : (r.data.error || app.dataset.failed), r.status !== 200);
    });
  });

  function poll() {
    if (!localStorage.getItem(TOKEN)) { state("not-enrolled"); return; }
    call(app.dataset.pending, "GET", bearer()).then(function (r) {
      if (r.status === 401) { localStorage.removeItem(TOKEN); state("not-enrolled"); return; }
      if (r.status === 200 && !busy) { render(r.data.request); }
      timer = window.setTimeout(poll, POLL_MS);
    }).catch(function () { timer = window.setTimeout(poll, POLL_MS * 2); });
  }
  poll();
})();
