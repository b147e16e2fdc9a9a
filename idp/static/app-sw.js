// The approval app's service worker: keeps the shell (page, style, script, icon) so the app opens
// without a network, fresh when there is one. It never answers, or caches, an API call: those go
// to the network as they are, so a request's state is never read from a cache.
"use strict";
var CACHE = "idp-app-shell-v2";
var SHELL = ["/app/", "/static/style.css", "/static/webauthn-json.js", "/static/app.js", "/static/app-icon.svg"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }));
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || SHELL.indexOf(url.pathname) < 0) {
    return;  // the API and everything else: straight to the network, never cached
  }
  // network first (the shell follows the citizen's language and our updates), the cache offline
  event.respondWith(fetch(event.request).then(function (response) {
    var copy = response.clone();
    if (response.ok) { caches.open(CACHE).then(function (cache) { cache.put(event.request, copy); }); }
    return response;
  }).catch(function () { return caches.match(event.request); }));
});
