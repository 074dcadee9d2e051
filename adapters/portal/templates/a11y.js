(function () {
  var root = document.documentElement, modes = ["a11y-large", "a11y-contrast"];
  function stored(mode) { try { return localStorage.getItem("govcast." + mode) === "1"; } catch (e) { return false; } }
  modes.forEach(function (mode) { if (stored(mode)) { root.classList.add(mode); } });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-mode]").forEach(function (button) {
      var mode = button.getAttribute("data-mode");
      button.hidden = false;
      button.setAttribute("aria-pressed", String(root.classList.contains(mode)));
      button.addEventListener("click", function () {
        var on = root.classList.toggle(mode);
        button.setAttribute("aria-pressed", String(on));
        try { localStorage.setItem("govcast." + mode, on ? "1" : "0"); } catch (e) { /* private mode: not remembered */ }
      });
    });
  });
})();
