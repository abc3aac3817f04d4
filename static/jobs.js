// Tarefas: the job page polls its small JSON status and fills the progress bar and the per-item results.
// No inline JavaScript; user data only ever goes into textContent.
(function () {
  'use strict';
  var root = document.getElementById('job');
  if (!root || root.dataset.active !== 'true') { return; }
  var url = root.dataset.statusUrl;
  var table = document.querySelector('#job-items tbody');
  var after = -1;
  document.querySelectorAll('#job-items tr[data-no]').forEach(function (row) {
    after = Math.max(after, parseInt(row.dataset.no, 10));
  });
  var set = function (id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  };
  var poll = function () {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url + '&after=' + after);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.onload = function () {
      if (xhr.status !== 200) { window.setTimeout(poll, 5000); return; }
      var data = JSON.parse(xhr.responseText);
      set('job-state', data.state_label);
      set('job-processed', String(data.done + data.failed));
      set('job-total', String(data.total));
      set('job-failed', String(data.failed));
      set('job-summary', data.summary);
      var bar = document.getElementById('job-bar');
      bar.style.width = data.percent + '%';
      bar.setAttribute('aria-valuenow', data.percent);
      bar.textContent = data.percent + '%';
      data.items.forEach(function (item) {
        var row = document.createElement('tr');
        row.dataset.no = item.no;
        [String(item.seq + 1), item.contract || item.key, item.name, item.label, item.reason].forEach(function (text) {
          var cell = document.createElement('td');
          cell.textContent = text;
          row.appendChild(cell);
        });
        table.appendChild(row);
        after = Math.max(after, item.no);
      });
      if (data.active) {
        window.setTimeout(poll, data.items.length ? 300 : 1000);
      } else {
        window.location.assign(root.dataset.detailsUrl);  // the final page (the report, for an inclusion)
      }
    };
    xhr.onerror = function () { window.setTimeout(poll, 5000); };
    xhr.send();
  };
  var bar = document.getElementById('job-bar');
  bar.style.width = bar.dataset.percent + '%';
  window.setTimeout(poll, 500);
})();
