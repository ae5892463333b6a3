// Shows the page's times in the visitor's own time zone. The markup carries every time
// as ISO 8601 UTC (the datetime attribute) and as readable UTC text, so without this
// script the page reads the same, in UTC.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var element = times[i];
    var date = new Date(element.getAttribute("datetime"));
    if (isNaN(date.getTime())) continue;
    element.title = element.textContent;
    element.textContent = format.format(date);
  }
  var note = document.getElementById("time-note");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (note && zone) {
    note.textContent = "Times are in your time zone (" + zone + "); the days of past incidents are UTC dates.";
  }
})();
