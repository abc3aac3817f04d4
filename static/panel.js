/* The panel's behaviour, without a line of inline JavaScript (CSP: script-src 'self').
 *
 * Pages carry data only in data-* attributes; this file reads them as text, never as code:
 *   data-confirm="…"          a button (or link) asks window.confirm(text) first; Cancel stops it
 *   data-delete-row="id"      a list row's delete button: posts the id through the page's one delete form
 *                             (#row-delete-form, with the CSRF token), after its data-confirm
 *   data-model-action="name"  a "Com selecionado" item runs Flask-Admin's bulk action `name`
 *   data-disable-on-submit    a submit button is disabled once its form is sent (no double submission)
 *   #meeting-clock            the clock's dropdown loads today's meetings (data-url) when it opens
 * Links with href="javascript:void(0)" (Flask-Admin's menus) only open dropdowns: their navigation, which
 * the CSP would refuse, is cancelled.
 */
(function () {
  'use strict';

  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var confirmable = target.closest('[data-confirm]');
    if (confirmable && !window.confirm(confirmable.getAttribute('data-confirm'))) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var deleteButton = target.closest('[data-delete-row]');
    var deleteForm = document.getElementById('row-delete-form');
    if (deleteButton && deleteForm) {
      event.preventDefault();
      deleteForm.elements.id.value = deleteButton.getAttribute('data-delete-row');
      deleteForm.submit();
      return;
    }
    var action = target.closest('[data-model-action]');
    if (action) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(action.getAttribute('data-model-action')); }
      return;
    }
    var link = target.closest('a[href]');
    if (link && /^\s*javascript:/i.test(link.getAttribute('href'))) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) { return; }
    var buttons = form.querySelectorAll('[data-disable-on-submit]');
    // Disabled after the browser has taken the form's data (a disabled button would not be sent).
    window.setTimeout(function () {
      buttons.forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  function loadClock() {
    // The clock's list is fetched when the dropdown opens: pages pay only for the count.
    var box = document.getElementById('clock-items');
    if (!box || box.dataset.loaded) { return; }
    box.dataset.loaded = '1';
    fetch(box.dataset.url, {credentials: 'same-origin', headers: {'X-Requested-With': 'fetch'}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () {
        box.dataset.loaded = '';
        box.textContent = '';
        var failure = document.createElement('span');
        failure.className = 'dropdown-item-text text-danger';
        failure.textContent = 'Não foi possível carregar as reuniões de hoje.';
        box.appendChild(failure);
      });
  }

  if (window.jQuery) {
    window.jQuery(document).on('show.bs.dropdown', '#meeting-clock', loadClock);
  }
})();
