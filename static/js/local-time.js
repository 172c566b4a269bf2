// <time datetime="…" data-local-time> elements: the server writes Korea's time (and says so); here it
// becomes the reader's own time zone, in the page's language.
(function () {
  const language = document.documentElement.lang || undefined;
  let format;
  try {
    format = new Intl.DateTimeFormat(language, {
      year: "numeric", month: "long", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short",
    });
  } catch (error) {
    return; // no Intl: the server's words stay
  }
  document.querySelectorAll("time[data-local-time]").forEach((element) => {
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    element.textContent = format.format(when);
    element.title = when.toISOString();
  });
})();
