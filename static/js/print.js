// Buttons marked data-print open the browser's print dialog (the page's print CSS hides the panel around it).
document.querySelectorAll('[data-print]').forEach(function (button) {
  button.addEventListener('click', function () { window.print(); });
});
