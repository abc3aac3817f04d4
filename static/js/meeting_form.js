// Reuniões > Adicionar: Observações and Produtiva belong to a meeting that already happened; show them only when
// "Registrar reunião que já aconteceu" is ticked (without JavaScript they simply stay visible).
(function () {
  var box = document.getElementById('already_happened');
  if (!box) { return; }
  var groups = ['notes', 'productive'].map(function (name) {
    var field = document.getElementById(name) || document.querySelector('[name="' + name + '"]');
    return field ? field.closest('.form-group') : null;
  }).filter(Boolean);
  var invite = ['participants'].map(function (name) {
    var field = document.getElementById(name);
    return field ? field.closest('.form-group') : null;
  }).filter(Boolean);
  function sync() {
    groups.forEach(function (g) { g.style.display = box.checked ? '' : 'none'; });
    invite.forEach(function (g) { g.classList.toggle('text-muted', box.checked); });
  }
  box.addEventListener('change', sync);
  sync();
}());
