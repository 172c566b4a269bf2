// What every page needs from script, without inline script or style attributes: the
// Content-Security-Policy (ontop/settings.py) allows neither, so the markup only carries data-*
// attributes and this file turns them into behaviour. Loaded by base.html before each page's own
// scripts, so their first look at the page sees the same widths the server rendered.
//
// - data-width="42.5" on a progress bar: its width in percent (job.js and friends update it later).
// - data-swatch="background: …" on a style's colour swatch: only its background is applied.
// - form[data-confirm]: asks before the form is sent (delete buttons).
// - select[data-autosubmit]: sends its form when the choice changes (the language switch).
//
// Styles are set through the CSSOM (element.style), which CSP permits; setAttribute("style") is not.
(function () {
  document.querySelectorAll("[data-width]").forEach((element) => {
    const percent = Number(element.dataset.width);
    if (Number.isFinite(percent)) element.style.width = Math.min(100, Math.max(0, percent)) + "%";
  });

  const probe = document.createElement("span");
  document.querySelectorAll("[data-swatch]").forEach((element) => {
    probe.style.cssText = element.dataset.swatch;
    element.style.background = probe.style.background;
  });

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });

  // Marks the page as scripted: the CSP browser test checks that our own scripts really ran.
  document.documentElement.dataset.scripted = "true";
})();
