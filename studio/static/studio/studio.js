// The profile studio: consent box, drag-and-drop upload, photo checks and training progress (polled).
(function () {
  const finalStatuses = ["succeeded", "failed", "cancelled"];
  const fill = (template, key, value) => template.replace(`%(${key})s`, value);

  // New subject: pets need no consent box.
  const kinds = document.querySelectorAll("input[name=kind]");
  const consent = document.getElementById("consent-box");
  if (kinds.length && consent) {
    const update = () => {
      const picked = document.querySelector("input[name=kind]:checked");
      consent.hidden = picked && picked.value !== "person";
    };
    kinds.forEach((input) => input.addEventListener("change", update));
    update();
  }

  // Forms that create something (a subject, a training) are sent once: a double click or a second
  // tap while the page loads does nothing (the server also dedupes by the form's submission_id).
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

  // Upload: choosing or dropping photos sends them at once.
  const form = document.getElementById("upload-form");
  const input = document.getElementById("photo-input");
  const zone = document.getElementById("dropzone");
  if (form && input && zone) {
    const button = document.getElementById("upload-button");
    if (button) button.style.display = "none"; // choosing photos sends them
    const send = () => {
      if (!input.files.length || form.dataset.sent) return;
      form.dataset.sent = "1";
      document.getElementById("uploading").hidden = false;
      zone.classList.add("busy");
      form.submit();
    };
    input.addEventListener("change", send);
    ["dragenter", "dragover"].forEach((name) =>
      zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((name) =>
      zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (event) => {
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      const transfer = new DataTransfer();
      Array.from(files).forEach((file) => transfer.items.add(file));
      input.files = transfer.files;
      send();
    });
  }

  async function state(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  // Photos being checked: the page shows the verdicts once their check is done.
  const checks = [...new Set([...document.querySelectorAll("[data-check-url]")].map((el) => el.dataset.checkUrl))];
  async function pollChecks() {
    try {
      for (const url of checks) {
        if (finalStatuses.includes((await state(url)).status)) { window.location.reload(); return; }
      }
    } catch (e) { /* try again below */ }
    setTimeout(pollChecks, 1500);
  }
  if (checks.length) setTimeout(pollChecks, 1000);

  // Trainings: stage, step of total, loss, time left or place in line, and the newest preview.
  function formatEta(panel, seconds) {
    if (seconds < 90) return fill(panel.dataset.etaSeconds, "n", seconds);
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return fill(panel.dataset.etaMinutes, "n", minutes);
    return fill(fill(panel.dataset.etaHours, "h", Math.floor(minutes / 60)), "m", minutes % 60);
  }
  function watch(panel) {
    let lastStep = -1;
    const q = (selector) => panel.querySelector(selector);
    async function poll() {
      let s;
      try { s = await state(panel.dataset.statusUrl); } catch (e) { setTimeout(poll, 3000); return; }
      if (finalStatuses.includes(s.status)) { window.location.reload(); return; }
      const status = q(".job-status");
      status.className = "status job-status " + s.status;
      status.textContent = s.status_label;
      q(".job-stage").textContent = s.stage_label;
      q(".job-step").textContent = s.total_steps
        ? fill(fill(panel.dataset.stepLabel, "step", s.step), "total", s.total_steps) : "";
      q(".job-loss").textContent = s.loss !== null && s.loss !== undefined ? fill(panel.dataset.lossLabel, "loss", s.loss) : "";
      let extra = "";
      if (s.queue_position !== null) extra = fill(panel.dataset.queueLabel, "n", s.queue_position + 1);
      else if (s.eta_seconds) extra = formatEta(panel, s.eta_seconds);
      q(".job-eta").textContent = extra;
      q(".job-attempt").textContent = s.attempt > 1 ? fill(panel.dataset.attemptLabel, "n", s.attempt) : "";
      const bar = q(".job-bar");
      bar.style.width = s.percent + "%";
      bar.parentElement.setAttribute("aria-valuenow", s.percent);
      panel.dataset.step = s.step;
      if (s.has_preview && s.step !== lastStep) {
        lastStep = s.step;
        const figure = q(".progress-preview");
        const image = figure.querySelector("img");
        image.onload = () => { figure.hidden = false; };
        image.src = `${panel.dataset.previewUrl}?step=${s.step}`;
        figure.querySelector(".preview-step").textContent = s.total_steps ? `${s.step} / ${s.total_steps}` : "";
      }
      setTimeout(poll, 1000);
    }
    if (!finalStatuses.includes(panel.dataset.status)) poll();
  }
  document.querySelectorAll(".training-panel").forEach(watch);
})();
