// Negativation screens: behaviour bound from data-* attributes (no inline JavaScript, no user data in scripts).
(function () {
  'use strict';

  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.addEventListener('click', function () { window.print(); });
  });

  // Excluir negativação: the SOA code follows the motive; the note is required for some motives.
  var motive = document.getElementById('motive');
  var code = document.getElementById('code');
  if (motive && code) {
    var sync = function () {
      var wanted = motive.value;
      var first = null;
      Array.prototype.forEach.call(code.options, function (option) {
        var fits = !option.value || !option.dataset.motives ||
          option.dataset.motives.split(' ').indexOf(wanted) !== -1;
        option.hidden = !fits;
        option.disabled = !fits;
        if (fits && option.value && first === null) { first = option; }
      });
      if (code.selectedOptions.length === 0 || code.selectedOptions[0].disabled) {
        code.value = first ? first.value : '';
      }
      var hint = document.getElementById('note-required');
      if (hint) {
        var required = (motive.dataset.noteRequired || '').split(' ').indexOf(wanted) !== -1;
        hint.hidden = !required;  // the server refuses a missing note with its pt-BR message
      }
    };
    motive.addEventListener('change', sync);
    sync();
  }
})();
