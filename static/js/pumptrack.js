// Small behaviours shared by every page. No inline handlers: a strict CSP forbids them.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var print = event.target.closest("[data-print]");
    if (print) {
      event.preventDefault();
      window.print();
    }
  });
})();
