// Live preview of a refill while the nurse types.
// The form carries data-preview-url; every change posts the form there (debounced)
// and the server answers with an HTML fragment from refills.services.refill_preview.
(function () {
  "use strict";
  var form = document.getElementById("refill-form");
  if (!form) { return; }
  var target = document.getElementById(form.dataset.previewTarget || "refill-preview");
  var status = document.getElementById("preview-status");
  var url = form.dataset.previewUrl;
  var timer = null;
  var controller = null;
  var sequence = 0;

  function refresh() {
    var mine = ++sequence;
    if (controller) { controller.abort(); }
    controller = new AbortController();
    if (status) { status.classList.add("busy"); }
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok) { throw new Error("preview failed: " + response.status); }
      return response.text();
    }).then(function (html) {
      if (mine !== sequence) { return; }
      target.innerHTML = html;
      target.dataset.ready = String(mine);
    }).catch(function (error) {
      if (error.name === "AbortError") { return; }
      target.innerHTML = '<p class="text-danger small mb-0">The preview could not be updated. ' +
        "Saving still runs every check.</p>";
    }).finally(function () {
      if (mine === sequence && status) { status.classList.remove("busy"); }
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 350);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);

  // "Did you mean mg/mL?": one click switches the unit picker and refreshes.
  target.addEventListener("click", function (event) {
    var button = event.target.closest("[data-set-unit]");
    if (!button) { return; }
    var unit = form.querySelector("[name=concentration_unit]");
    if (unit) {
      unit.value = button.dataset.setUnit;
      unit.focus();
      refresh();
    }
  });

  refresh();
})();
