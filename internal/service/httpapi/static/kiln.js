// kiln serve's web page: follows a build's log live (Server-Sent Events,
// resumed by the browser from the last event id) and cancels a build.
(function () {
  'use strict';
  var summary = document.getElementById('summary');
  var log = document.getElementById('log');
  if (!summary || !log) return;
  var id = summary.dataset.build;
  var status = document.getElementById('status');
  var cancel = document.getElementById('cancel');

  function show(b) {
    status.textContent = b.status;
    status.className = 'status ' + b.status;
    if (b.digest) document.getElementById('image').textContent = b.image + '@' + b.digest;
    if (b.status === 'failed') {
      document.getElementById('failure').textContent =
        (b.phase ? 'phase ' + b.phase + ', ' : '') + 'exit code ' + b.exit_code + ': ' + (b.reason || '');
    }
    var final = ['succeeded', 'failed', 'canceled', 'superseded'].indexOf(b.status) >= 0;
    if (cancel) cancel.hidden = final;
  }

  var es = new EventSource('/api/builds/' + id + '/log');
  es.onmessage = function (e) {
    var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(document.createTextNode(e.data + '\n'));
    if (atEnd) log.scrollTop = log.scrollHeight;
    if (status.textContent === 'queued') { status.textContent = 'running'; status.className = 'status running'; }
  };
  es.addEventListener('end', function (e) {
    es.close();
    try { show(JSON.parse(e.data)); } catch (err) { /* keep what is shown */ }
  });

  if (cancel) {
    cancel.addEventListener('click', function () {
      cancel.disabled = true;
      fetch('/api/builds/' + id + '/cancel', { method: 'POST', headers: { 'X-Kiln-Request': '1' }, credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (b) { if (b && b.status) show(b); })
        .finally(function () { cancel.disabled = false; });
    });
  }
})();
