/* Haven dashboard: live updates. The pages work without this file.
   The server sends "change" events naming a topic (never content); a page whose
   [data-live] region lists that topic fetches itself again and swaps the region in,
   unless the moderator is typing in it (then a note offers to reload). */
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var topics = region.getAttribute("data-live").split(" ");
  var note = null;

  function busy() {
    var el = document.activeElement;
    return el && region.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") &&
      el.value !== el.defaultValue;
  }

  function offerReload() {
    if (note) { return; }
    note = document.createElement("p");
    note.className = "live-note";
    note.setAttribute("role", "status");
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Something changed: reload the page";
    note.appendChild(link);
    document.body.appendChild(note);
  }

  function refresh() {
    if (busy()) { offerReload(); return; }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
        if (!fresh) { return; }
        if (busy()) { offerReload(); return; }
        region.replaceWith(fresh);
        region = fresh;
      })
      .catch(offerReload);
  }

  var source = new EventSource("/events");
  source.addEventListener("change", function (e) {
    if (topics.indexOf(e.data) >= 0) { refresh(); }
  });
})();
