// The waiting page: poll the learner's place, update it, and launch by itself when their turn comes.
(function () {
  "use strict";
  var box = document.getElementById("queue");
  if (!box) { return; }
  var form = document.getElementById("queue-launch");
  var statusUrl = box.getAttribute("data-status-url");
  var delay = 3000;

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = String(value); }
  }

  function launch() { form.submit(); }

  function poll() {
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (t) {
        if (t && t.status === "go") { text("queue-state", "Your turn: starting your server…"); launch(); return; }
        if (t && t.status === "wait") {
          text("queue-position", t.position);
          text("queue-estimate", t.estimate_minutes);
        }
        if (t && t.status === "degraded") { setTimeout(launch, 15000); return; }
        setTimeout(poll, delay);
      })
      .catch(function () { setTimeout(poll, delay * 2); });
  }

  var initial = box.getAttribute("data-status");
  if (initial === "go") { launch(); }
  else if (initial === "busy") { setTimeout(launch, 2000 + Math.random() * 1000); }
  else if (initial === "degraded") { setTimeout(launch, 15000); }
  else if (initial === "wait") { setTimeout(poll, delay); }
})();
