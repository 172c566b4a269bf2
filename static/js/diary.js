// The diary form: a live character count under the text (the limit comes from the page).
(function () {
  const text = document.querySelector(".diary-form textarea");
  const count = document.getElementById("text-count");
  if (!text || !count) return;
  const limit = Number(count.dataset.limit);
  const update = () => {
    // Count a line break as one character, as the server does.
    const length = text.value.replace(/\r\n/g, "\n").length;
    count.textContent = `${length.toLocaleString()} / ${limit.toLocaleString()}`;
    count.classList.toggle("over", length > limit);
  };
  text.addEventListener("input", update);
  update();
})();
