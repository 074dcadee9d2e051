// govcast console: live status chips over Server-Sent Events. Everything works without this script;
// it only saves the reload. No inline code anywhere (strict CSP).
(function () {
  "use strict";
  var live = document.querySelector("[data-live-since]");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource("/console/events?since=" + encodeURIComponent(live.getAttribute("data-live-since")));
  source.addEventListener("status", function (message) {
    var change;
    try { change = JSON.parse(message.data); } catch (e) { return; }
    var chips = document.querySelectorAll(".chip[data-pub]");
    for (var i = 0; i < chips.length; i++) {
      var chip = chips[i];
      if (chip.getAttribute("data-pub") !== change.pub || chip.getAttribute("data-channel") !== change.channel) { continue; }
      if (chip.getAttribute("data-status") === change.status) { continue; }
      chip.className = "chip s-" + change.status + " changed";
      chip.textContent = change.label;
      chip.setAttribute("data-status", change.status);
      if (change.detail) { chip.setAttribute("title", change.detail); }
    }
    if (change.channel) {
      var detail = document.querySelector('[data-detail-of="' + change.channel + '"]');
      if (detail && live.querySelector('.chip[data-pub="' + change.pub + '"]')) { detail.textContent = change.detail; }
    }
  });
  window.addEventListener("pagehide", function () { source.close(); });
}());
