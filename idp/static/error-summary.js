// GOV.UK error summary: move focus to it, so screen readers announce the problems first. The
// summary also carries `autofocus`; this covers browsers that ignore it on a non-form element.
(function () {
  var summary = document.querySelector("[data-error-summary]");
  if (summary) { summary.focus(); }
})();
