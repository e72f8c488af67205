// Apply catalog filters as soon as a select changes (the Apply button stays for no-JS use).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("filters");
  if (form) {
    form.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => form.submit()));
  }
  // Copy buttons (the share box): the clipboard API needs a secure context; elsewhere the text is
  // selected so that Ctrl+C / Cmd+C copies it.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    const label = button.textContent;
    button.addEventListener("click", () => {
      const source = document.getElementById(button.dataset.copy);
      const say = (text) => {
        button.textContent = text;
        setTimeout(() => { button.textContent = label; }, 2500);
      };
      const select = () => {
        source.focus();
        if (source.select) { source.select(); }
        say("Press Ctrl+C");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value || source.textContent).then(() => say("Copied"), select);
      } else {
        select();
      }
    });
  });
  // The preview's outline starts folded on small screens, so that the notebook comes first.
  if (window.matchMedia("(max-width: 800px)").matches) {
    document.querySelectorAll("details[data-fold-on-phone]").forEach((el) => { el.open = false; });
  }
});

// The stop warning on every page: a signed-in learner whose server stops within the warning
// window (idle timeout or end of slot) is told so wherever they are in the portal.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-server-status-url");
  var banner = document.getElementById("server-banner");
  if (!url || !banner) { return; }
  var myServer = document.body.getAttribute("data-my-server-url");
  var stopsAt = null;
  var reason = null;
  var hubDown = false;

  function render() {
    if (hubDown) {
      // The portal answered at once that the hub is not answering (its circuit breaker).
      banner.textContent = "The notebook hub is not answering right now: your server's state is unknown " +
        "and launching waits a moment. Browsing and downloads work as usual.";
      banner.hidden = false;
      return;
    }
    if (stopsAt === null) { banner.hidden = true; return; }
    var minutes = Math.max(0, Math.ceil((stopsAt - Date.now()) / 60000));
    banner.textContent = "";
    var why = reason === "age" ? " (the end of its time slot)" : " unless you use it";
    var text = minutes > 0
      ? "Your notebook server stops in about " + minutes + " min" + why + ": save your work (your files stay in your home). "
      : "Your notebook server is stopping: your files stay in your home. ";
    banner.appendChild(document.createTextNode(text));
    var link = document.createElement("a");
    link.href = myServer;
    link.id = "server-banner-link";
    link.textContent = "My server";
    banner.appendChild(link);
    banner.hidden = false;
  }

  function check() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        // Said once: the page may carry the portal's own notice already.
        hubDown = r.status === 503 && !document.getElementById("hub-notice");
        return r.ok ? r.json() : null;
      })
      .then(function (s) {
        reason = s ? s.stop_reason : null;
        stopsAt = s && s.warn && s.remaining_seconds !== null ? Date.now() + s.remaining_seconds * 1000 : null;
        render();
      })
      .catch(function () { /* the hub or the portal is away: no warning rather than a wrong one */ });
  }

  check();
  setInterval(check, 60000);
  setInterval(render, 15000);
})();
