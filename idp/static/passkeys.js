// Passkeys (WebAuthn Level 3): fetch options from the IdP, call navigator.credentials, post the
// result back. Loaded as a file (CSP script-src 'self'); without it the buttons stay hidden.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) { return; }

  var toBytes = WebAuthnJSON.toBytes, credentialJSON = WebAuthnJSON.credential;
  function post(url, csrf, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body: JSON.stringify(body || {})});
  }
  function show(box, message) {
    var alert = box.querySelector(".alert");
    alert.textContent = message;
    alert.hidden = false;
  }
  function finish(box, response) {
    return response.json().then(function (data) {
      if (response.ok && data.redirect) { window.location.assign(data.redirect); }
      else { show(box, data.error || box.dataset.failed); }
    });
  }

  function run(box, mediation, signal) {
    var csrf = box.dataset.csrf, register = box.dataset.passkey === "register";
    return post(box.dataset.options, csrf).then(function (r) { return r.json(); }).then(function (o) {
      o.challenge = toBytes(o.challenge);
      if (register) {
        o.user.id = toBytes(o.user.id);
        (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({publicKey: o});
      }
      (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
      var request = {publicKey: o};
      if (mediation) { request.mediation = mediation; request.signal = signal; }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      var body = {credential: credentialJSON(credential)};
      var name = document.querySelector("[data-passkey-name]");
      if (register && name) { body.name = name.value; }
      return post(box.dataset.verify, csrf, body).then(function (r) { return finish(box, r); });
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(function (box) {
    box.hidden = false;
    var conditional = null;
    box.querySelector("button").addEventListener("click", function () {
      if (conditional) { conditional.abort(); conditional = null; }
      run(box).catch(function () { show(box, box.dataset.failed); });
    });
    // Autofill (conditional mediation): the browser offers passkeys in the username field.
    if (box.dataset.conditional && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
        if (!yes) { return; }
        conditional = new AbortController();
        run(box, "conditional", conditional.signal).catch(function () {});
      });
    }
  });
})();
