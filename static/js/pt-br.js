/* The bundled pickers in pt-BR: select2 3.5 (relationship pickers, list filters) and daterangepicker 1.3
 * (list date filters), which ship with English texts only. Loaded by templates/admin/panel_base.html after
 * Flask-Admin's scripts; no inline code, no user text. */
(function ($) {
  'use strict';
  if (!$) { return; }

  var PT_BR_SELECT2 = {
    formatMatches: function (n) {
      return n === 1 ? 'Um resultado disponível: pressione Enter para escolhê-lo.'
        : n + ' resultados disponíveis: use as setas para navegar.';
    },
    formatNoMatches: function () { return 'Nenhum resultado encontrado'; },
    formatAjaxError: function () { return 'Não foi possível carregar os resultados'; },
    formatInputTooShort: function (input, min) {
      var n = min - input.length;
      return 'Digite ao menos ' + n + (n === 1 ? ' caractere' : ' caracteres');
    },
    formatInputTooLong: function (input, max) {
      var n = input.length - max;
      return 'Apague ' + n + (n === 1 ? ' caractere' : ' caracteres');
    },
    formatSelectionTooBig: function (limit) {
      return 'Você pode escolher no máximo ' + limit + (limit === 1 ? ' item' : ' itens');
    },
    formatLoadMore: function () { return 'Carregando mais resultados…'; },
    formatSearching: function () { return 'Buscando…'; }
  };
  if ($.fn.select2) {
    $.fn.select2.locales = $.fn.select2.locales || {};
    $.fn.select2.locales['pt-BR'] = PT_BR_SELECT2;
    $.extend($.fn.select2.defaults, PT_BR_SELECT2);
  }

  var PT_BR_DATES = {
    applyLabel: 'Aplicar', cancelLabel: 'Cancelar', fromLabel: 'De', toLabel: 'Até', weekLabel: 'S',
    customRangeLabel: 'Outro período',
    daysOfWeek: ['Do', 'Se', 'Te', 'Qa', 'Qi', 'Sx', 'Sá'],
    monthNames: ['Jan', 'Fev', 'Mar', 'Abr', 'Mai', 'Jun', 'Jul', 'Ago', 'Set', 'Out', 'Nov', 'Dez'],
    firstDay: 0
  };
  //: Flask-Admin's filter formats (ISO) → what a Brazilian types and reads; the server accepts both.
  var FORMATS = {'YYYY-MM-DD': 'DD/MM/YYYY', 'YYYY-MM-DD HH:mm:ss': 'DD/MM/YYYY HH:mm'};

  function ptBrDateRangePicker() {
    var original = $.fn.daterangepicker;
    if (!original || original.ptBr) { return; }
    $.fn.daterangepicker = function (options, callback) {
      options = $.extend({}, options || {});
      options.locale = $.extend({}, PT_BR_DATES, options.locale || {});
      if (FORMATS[options.format]) { options.format = FORMATS[options.format]; }
      if (options.separator === ' to ') { options.separator = ' até '; }
      return original.call(this, options, callback);
    };
    $.fn.daterangepicker.ptBr = true;
  }
  ptBrDateRangePicker();  // when daterangepicker.js is already loaded
  $(document).on('adminFormReady', ptBrDateRangePicker);  // Flask-Admin's form.js, loaded after it
})(window.jQuery);
