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

  // A browser draws its date fields in its own locale (mm/dd/yyyy in an American one),
  // while every page writes "Tue 1 Dec 2026" (pumptrack/dates.py). Each date field
  // therefore says, under it, the day it holds in the pages' own words: 01/12 can
  // never be read as the wrong month.
  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function dayText(value) {
    var match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(value || "");
    if (!match) {
      return "";
    }
    var year = Number(match[1]), month = Number(match[2]), day = Number(match[3]);
    // UTC arithmetic for the weekday only: the field holds a calendar day, not a moment.
    var weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
    var text = WEEKDAYS[weekday] + " " + day + " " + MONTHS[month - 1] + " " + year;
    return match[4] ? text + ", " + match[4] + ":" + match[5] : text;
  }

  function echo(input) {
    var note = document.createElement("div");
    note.className = "form-text date-echo";
    note.setAttribute("aria-live", "polite");
    if (input.id) {
      note.id = input.id + "_reads";
    }
    input.insertAdjacentElement("afterend", note);
    var update = function () {
      var text = dayText(input.value);
      note.textContent = text ? "Reads as " + text : "";
    };
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document
      .querySelectorAll('input[type="date"], input[type="datetime-local"]')
      .forEach(echo);
  });
})();
