// Behaviour the pages declare with data attributes (no inline handlers: the
// Content-Security-Policy allows scripts from this origin only).
// <select data-autosubmit>: submit its form when the choice changes.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLElement && field.matches("[data-autosubmit]") && field.form) {
    field.form.submit();
  }
});
