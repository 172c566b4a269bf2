// The one-photo studio profile: drag and drop (or tap) one photo and see it before sending; forms
// that make something are sent once. Live progress is static/js/job.js's.
(function () {
  document.querySelectorAll("form.once").forEach((once) => {
    once.addEventListener("submit", (event) => {
      if (once.dataset.sent) { event.preventDefault(); return; }
      once.dataset.sent = "1";
      once.querySelectorAll("button[type=submit]").forEach((button) => {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      });
    });
  });

  const input = document.getElementById("photo-input");
  const zone = document.getElementById("dropzone");
  if (!input || !zone) return;
  const preview = document.getElementById("photo-preview");
  const name = document.getElementById("photo-name");
  let shown = null;
  const show = () => {
    const file = input.files && input.files[0];
    if (shown) URL.revokeObjectURL(shown);
    shown = null;
    if (!file) { preview.hidden = true; name.textContent = ""; return; }
    name.textContent = file.name;
    if (file.type && file.type.startsWith("image/") && !/hei[cf]/i.test(file.type)) {
      shown = URL.createObjectURL(file);
      preview.src = shown;
      preview.hidden = false;
    } else {
      preview.hidden = true; // HEIC: the browser cannot show it, the server can read it
    }
  };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (event) => {
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]); // one photo
    input.files = transfer.files;
    show();
  });
})();
