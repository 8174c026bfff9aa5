// Drug-program page: the flex-step editor.
// Shows the inputs of the chosen dosing mode, adds and removes step rows (a Django
// formset: names like steps-0-hours, with the row count in steps-TOTAL_FORMS), and keeps
// each step's end time and dose and the daily total up to date as the nurse types.
// Without this script the page still works: blank rows are offered, a blank row is
// ignored, and the server shows the same totals and runs every check on saving.
(function () {
  "use strict";
  var form = document.getElementById("program-form");
  var fieldset = document.getElementById("flex-steps");
  if (!form || !fieldset) { return; }
  var prefix = fieldset.dataset.prefix;
  var rows = fieldset.querySelector("[data-step-rows]");
  var template = document.getElementById("flex-step-template");
  var addButton = fieldset.querySelector("[data-add-step]");
  var status = document.getElementById("flex-steps-status");
  var totalForms = form.querySelector("[name='" + prefix + "-TOTAL_FORMS']");
  var initialForms = form.querySelector("[name='" + prefix + "-INITIAL_FORMS']");
  var maxForms = parseInt(fieldset.dataset.maxSteps, 10);
  var mode = form.querySelector("[name=mode]");
  var totals = document.getElementById("program-totals");
  var rowPattern = new RegExp(prefix + "-(\\d+|__prefix__)-");
  var MINUTES_PER_DAY = 24 * 60;

  // Numbers as whole hundredths, so 12.5 mcg/h x 1.5 h is 18.75 exactly, as on the server.
  function hundredths(input) {
    var text = input ? input.value.trim() : "";
    if (!/^(\d+(\.\d{0,2})?|\.\d{1,2})$/.test(text)) { return null; }
    var parts = text.split(".");
    var whole = parts[0] ? parseInt(parts[0], 10) : 0;
    var fraction = ((parts[1] || "") + "00").slice(0, 2);
    return whole * 100 + parseInt(fraction, 10);
  }

  function wholeNumber(input) {
    var text = input ? input.value.trim() : "";
    return /^\d+$/.test(text) ? parseInt(text, 10) : null;
  }

  function minutesOf(input) {
    var match = input ? /^(\d{2}):(\d{2})/.exec(input.value) : null;
    if (!match) { return null; }
    var hours = parseInt(match[1], 10);
    var minutes = parseInt(match[2], 10);
    return hours < 24 && minutes < 60 ? hours * 60 + minutes : null;
  }

  // A whole number of 1/10^places units as text without trailing zeros: 1875, 2 -> "18.75".
  function shown(units, places) {
    var negative = units < 0;
    var digits = String(Math.abs(units));
    while (digits.length <= places) { digits = "0" + digits; }
    var text = places ? digits.slice(0, -places) + "." + digits.slice(-places) : digits;
    if (places) { text = text.replace(/\.?0+$/, ""); }
    return (negative ? "-" : "") + text;
  }

  function clock(minutes) {
    var whole = ((Math.round(minutes) % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
    var h = Math.floor(whole / 60);
    var m = whole % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m;
  }

  function input(row, name) {
    return row.querySelector("[name$='-" + name + "']");
  }

  function stepRows() {
    return Array.prototype.slice.call(rows.querySelectorAll("[data-step-row]"));
  }

  function stepOf(row) {
    return {
      start: minutesOf(input(row, "starts_at")),
      hours: hundredths(input(row, "hours")),
      rate: hundredths(input(row, "rate_mcg_per_hour"))
    };
  }

  function endOf(step) {
    return step.start === null || step.hours === null ? null : step.start + step.hours * 60 / 100;
  }

  function isFlex() {
    return mode && mode.value === "flex";
  }

  function setText(selector, text) {
    var element = totals ? totals.querySelector(selector) : null;
    if (element) { element.textContent = text; }
  }

  function update() {
    var basal = 0;        // 1/10000 mcg a day
    var hours = 0;        // 1/100 hour
    var steps = 0;
    stepRows().forEach(function (row) {
      var step = stepOf(row);
      var end = endOf(step);
      var ends = "—";
      if (end !== null) { ends = clock(end) + (end > MINUTES_PER_DAY ? " next day" : ""); }
      row.querySelector("[data-step-ends]").textContent = ends;
      var dose = step.hours !== null && step.rate !== null ? step.hours * step.rate : null;
      row.querySelector("[data-step-dose]").textContent = dose === null ? "—" : shown(dose, 4);
      if (step.start !== null && dose !== null) {
        basal += dose;
        hours += step.hours;
        steps += 1;
      }
    });
    // Stored to 0.1 mcg/day and rounded up, as refills.services.ProgramInput does.
    var basalTenths = Math.ceil(basal / 1000);
    fieldset.querySelector("[data-steps-hours]").textContent =
      steps ? shown(hours, 2) + " of 24 hours" : "—";
    fieldset.querySelector("[data-steps-basal]").textContent =
      steps ? shown(basalTenths, 1) + " mcg/day" : "—";

    var basalHundredths = null;
    if (isFlex()) {
      basalHundredths = steps ? basalTenths * 10 : null;
    } else {
      basalHundredths = hundredths(form.querySelector("[name=basal_daily_dose_mcg]"));
      if (basalHundredths === null && mode && mode.value === "stopped") { basalHundredths = 0; }
    }
    var bolus = hundredths(form.querySelector("[name=bolus_dose_mcg]"));
    var perDay = wholeNumber(form.querySelector("[name=boluses_per_day]"));
    var ptm = hundredths(form.querySelector("[name=ptm_expected_daily_mcg]"));
    var bolusDaily = bolus !== null && perDay !== null ? bolus * perDay : null;
    setText("[data-total=basal]", basalHundredths === null ? "—" : shown(basalHundredths, 2) + " mcg/day");
    setText("[data-total=bolus]", bolusDaily === null ? "—" : shown(bolusDaily, 2) + " mcg/day");
    setText("[data-total=ptm]", ptm === null ? "—" : shown(ptm, 2) + " mcg/day");
    var total = basalHundredths !== null && bolusDaily !== null && ptm !== null ?
      basalHundredths + bolusDaily + ptm : null;
    setText("[data-total=total]", total === null ? "—" : shown(total, 2) + " mcg/day");
    setText("[data-total=change]", change(total));
  }

  // Worded like the server (dashboard/forms.py ProgramTotals.change).
  function change(total) {
    var current = totals ? parseFloat(totals.dataset.currentMcg) : NaN;
    if (total === null || isNaN(current)) { return "—"; }
    var next = total / 100;
    if (current <= 0) { return next > 0 ? "restart from 0 mcg/day" : "no change"; }
    if (Math.abs(next - current) < 0.001) { return "no change"; }
    var ratio = next / current;
    var percent = Math.round((ratio - 1) * 100);
    return (percent >= 0 ? "+" : "") + percent + " % (×" + ratio.toFixed(1) + ")";
  }

  function showMode() {
    var flex = isFlex();
    form.querySelectorAll(".program-flex-only").forEach(function (element) {
      element.hidden = !flex;
    });
    form.querySelectorAll(".program-simple-only").forEach(function (element) {
      element.hidden = flex;
    });
  }

  // Give every row the index and number of its place, after a row is added or removed.
  function renumber() {
    var all = stepRows();
    all.forEach(function (row, index) {
      row.querySelectorAll("[name], [id], [for], [aria-describedby]").forEach(function (element) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value && rowPattern.test(value)) {
            element.setAttribute(attribute, value.replace(rowPattern, prefix + "-" + index + "-"));
          }
        });
      });
      row.querySelectorAll("[data-step-number]").forEach(function (element) {
        element.textContent = String(index + 1);
      });
      row.querySelector("[data-remove-step]").hidden = false;
    });
    totalForms.value = String(all.length);
    if (parseInt(initialForms.value, 10) > all.length) { initialForms.value = String(all.length); }
    addButton.disabled = all.length >= maxForms;
  }

  function announce(text) {
    if (status) { status.textContent = text; }
  }

  function addRow() {
    var all = stepRows();
    if (all.length >= maxForms) { return; }
    var last = all.length ? endOf(stepOf(all[all.length - 1])) : null;
    var row = template.content.querySelector("[data-step-row]").cloneNode(true);
    rows.appendChild(row);
    renumber();
    // A new step usually starts where the last one ends.
    if (last !== null) { input(row, "starts_at").value = clock(last); }
    update();
    input(row, "starts_at").focus();
    announce("Step " + stepRows().length + " added.");
  }

  function removeRow(row) {
    var all = stepRows();
    var index = all.indexOf(row);
    row.remove();
    renumber();
    update();
    var left = stepRows();
    var next = left[index] || left[index - 1];
    (next ? input(next, "starts_at") : addButton).focus();
    announce("Step " + (index + 1) + " removed.");
  }

  addButton.hidden = false;
  addButton.addEventListener("click", addRow);
  rows.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-step]");
    if (button) { removeRow(button.closest("[data-step-row]")); }
  });
  form.addEventListener("input", update);
  form.addEventListener("change", function (event) {
    if (event.target === mode) {
      showMode();
      if (isFlex() && !stepRows().length) { addRow(); }
    }
    update();
  });

  renumber();
  showMode();
  update();
})();
