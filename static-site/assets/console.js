// The console's conveniences. Every form works without this script; with it:
// - times also say how long ago (or how soon) they are, kept current;
// - Markdown fields get a preview rendered by the server's own renderer;
// - choosing a template on the report form fills the form in place;
// - buttons that delete or stop something ask first;
// - a CSV file can be picked for the subscriber import.
(function () {
  'use strict';

  function csrf() {
    var field = document.querySelector('input[name="csrf"]');
    return field ? field.value : '';
  }

  // ------------------------------------------------------------ relative times
  var UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
  var format = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

  function relative(at) {
    var seconds = Math.round((at - Date.now()) / 1000);
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1]) {
        return format.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
      }
    }
    return format.format(0, 'second');
  }

  function refreshTimes() {
    if (!format) return;
    document.querySelectorAll('time[datetime]').forEach(function (time) {
      var at = Date.parse(time.getAttribute('datetime'));
      if (isNaN(at)) return;
      var note = time.nextElementSibling;
      if (!note || !note.classList.contains('ago')) {
        note = document.createElement('span');
        note.className = 'ago';
        time.after(note);
      }
      note.textContent = ' (' + relative(at) + ')';
    });
  }

  // ------------------------------------------------------------ Markdown preview
  function addPreview(area) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary preview-button';
    button.textContent = 'Preview';
    button.setAttribute('aria-controls', area.id + '-preview');
    var shown = document.createElement('div');
    shown.className = 'preview';
    shown.id = area.id + '-preview';
    shown.setAttribute('aria-live', 'polite');
    shown.hidden = true;
    button.addEventListener('click', function () {
      var body = new URLSearchParams({ csrf: csrf(), text: area.value });
      fetch('/admin/preview', { method: 'POST', body: body, credentials: 'same-origin' })
        .then(function (r) {
          if (!r.ok) throw new Error('status ' + r.status);
          return r.text();
        })
        .then(function (html) {
          // The server's renderer escapes raw HTML and keeps only safe links.
          shown.innerHTML = html || '<p class="quiet">Nothing to preview.</p>';
          shown.hidden = false;
          button.textContent = 'Refresh preview';
        })
        .catch(function () {
          shown.textContent = 'The preview is unavailable right now; the text is still sent as typed.';
          shown.hidden = false;
        });
    });
    area.after(button, shown);
  }

  // ------------------------------------------------------------ template pre-fill
  function prefillFromTemplates() {
    var select = document.getElementById('template');
    var report = document.querySelector('form[action="/admin/incidents"]');
    if (!select || !report) return;
    var getForm = select.form;
    var submit = getForm && getForm.querySelector('button');
    if (submit) submit.hidden = true;
    var typed = function () {
      return report.elements.title.value.trim() !== '' || report.elements.message.value.trim() !== '';
    };
    select.addEventListener('change', function () {
      if (!select.value) return;
      if (typed() && !window.confirm('Replace what you typed with the template?')) return;
      fetch('/admin/incidents/new?template=' + encodeURIComponent(select.value), { credentials: 'same-origin' })
        .then(function (r) { return r.text(); })
        .then(function (text) {
          var filled = new DOMParser().parseFromString(text, 'text/html').querySelector('form[action="/admin/incidents"]');
          if (!filled) return;
          ['title', 'message', 'impact', 'status', 'template_id'].forEach(function (name) {
            if (filled.elements[name] && report.elements[name]) report.elements[name].value = filled.elements[name].value;
          });
          report.querySelectorAll('input[name="components"]').forEach(function (box) {
            var theirs = filled.querySelector('input[name="components"][value="' + box.value + '"]');
            box.checked = !!(theirs && theirs.checked);
            var status = report.elements['status_' + box.value];
            var theirStatus = filled.elements['status_' + box.value];
            if (status && theirStatus) status.value = theirStatus.value;
          });
          report.elements.title.focus();
        });
    });
  }

  // ------------------------------------------------------------ confirmations
  document.addEventListener('submit', function (event) {
    var question = event.target.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // ------------------------------------------------------------ CSV file for import
  function csvPicker() {
    document.querySelectorAll('[data-file-for]').forEach(function (holder) {
      var area = document.getElementById(holder.getAttribute('data-file-for'));
      var input = holder.querySelector('input[type=file]');
      if (!area || !input || !window.FileReader) return;
      holder.hidden = false;
      input.addEventListener('change', function () {
        var file = input.files && input.files[0];
        if (!file) return;
        var reader = new FileReader();
        reader.onload = function () { area.value = String(reader.result); };
        reader.readAsText(file);
      });
    });
  }

  function start() {
    refreshTimes();
    setInterval(refreshTimes, 30000);
    document.querySelectorAll('textarea[data-markdown]').forEach(addPreview);
    prefillFromTemplates();
    csvPicker();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
