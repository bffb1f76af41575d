// form.js: the seller's form reads its datetime-local fields as UTC unless the form says how far
// the browser's clock is from UTC. This fills that in (tz_offset_minutes, as
// Date.getTimezoneOffset() gives it: minutes to add to local time to get UTC) and tells the
// seller which zone the times are in. Without JavaScript the form still works, in UTC.
(function () {
  "use strict";
  var field = document.getElementById("tz_offset_minutes");
  if (!field) {
    return;
  }
  var form = field.form;

  function offsetFor(value) {
    // The offset at the entered time, so that a date across a daylight-saving change is
    // still read in the zone the seller meant.
    var d = value ? new Date(value) : new Date();
    if (isNaN(d.getTime())) {
      d = new Date();
    }
    return d.getTimezoneOffset();
  }

  function describe(offset) {
    var east = -offset;
    var sign = east >= 0 ? "+" : "-";
    var abs = Math.abs(east);
    var hh = String(Math.floor(abs / 60)).padStart(2, "0");
    var mm = String(abs % 60).padStart(2, "0");
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      zone = "";
    }
    return "Times are in your time zone" + (zone ? " (" + zone + ", UTC" : " (UTC") + sign + hh + ":" + mm + ").";
  }

  function update() {
    var ends = form && form.elements.namedItem("ends_at");
    field.value = String(offsetFor(ends ? ends.value : ""));
  }

  update();
  var note = document.getElementById("tz-note");
  if (note) {
    note.textContent = describe(Number(field.value));
  }
  if (form) {
    form.addEventListener("submit", update);
  }
})();
