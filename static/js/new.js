// Drag-and-drop and an instant preview for the desk photo; the form still works without JS.
(function () {
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const input = zone.querySelector("input[type=file]");
  const preview = document.getElementById("photo-preview");
  const text = document.getElementById("dropzone-text");
  function show(file) {
    if (!file) return;
    text.textContent = file.name;
    if (/^image\/(jpeg|png|webp)$/.test(file.type)) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.hidden = true; // HEIC: browsers cannot preview it; the server converts it
    }
  }
  input.addEventListener("change", () => show(input.files[0]));
  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((name) =>
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (event) => {
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    show(input.files[0]);
  });
  // One click, one makeover: the button stays disabled while the upload goes.
  document.getElementById("new-makeover").addEventListener("submit", (event) => {
    event.submitter && (event.submitter.disabled = true);
  });
})();
