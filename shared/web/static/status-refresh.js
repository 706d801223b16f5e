// The status page reloads itself while the request is undecided, every data-seconds seconds, from a file
// (the page's policy forbids inline scripts). A script rather than <meta http-equiv="refresh">: the page's
// "Stop updating" link is the first thing after the status (WCAG 2.2.1), and a meta refresh cannot tell
// assistive technology that the reader may turn it off. Without JavaScript the page simply stays as it is.
(function () {
  var script = document.currentScript;
  var seconds = Number(script && script.dataset.seconds);
  if (!(seconds > 0)) {
    return;
  }
  window.setTimeout(function () {
    window.location.reload();
  }, seconds * 1000);
})();
