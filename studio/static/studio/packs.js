// Profile packs: the form's concept → pose/tone/size choices, and the pack page's live pictures.
(function () {
  const finalStatuses = ["succeeded", "failed", "cancelled"];
  const fill = (template, key, value) => template.replace(`%(${key})s`, value);

  // ---- the form ----------------------------------------------------------------------------------
  const form = document.getElementById("pack-form");
  if (form) {
    const size = form.querySelector("input[name=size]");
    const poseField = document.getElementById("pose-field");
    const update = (concept, changed) => {
      if (!concept) return;
      const card = form.querySelector(`.concept-card[data-concept="${concept.value}"]`);
      const poses = (card.dataset.poses || "").split(" ").filter(Boolean);
      const tones = (card.dataset.tones || "").split(" ").filter(Boolean);
      if (poseField) {
        // A concept offers its own poses; one that lists none leaves the pose to the model.
        poseField.hidden = poses.length === 0;
        form.querySelectorAll(".pose-card[data-pose]").forEach((pose) => {
          const slug = pose.dataset.pose;
          const offered = slug === "" || poses.includes(slug);
          pose.hidden = !offered;
          const input = pose.querySelector("input");
          if (!offered && input.checked) form.querySelector('.pose-card[data-pose=""] input').checked = true;
        });
        if (!poses.length) form.querySelector('.pose-card[data-pose=""] input').checked = true;
      }
      form.querySelectorAll(".tone-chip").forEach((chip) => {
        const offered = !tones.length || tones.includes(chip.dataset.tone);
        chip.hidden = !offered;
        chip.querySelector("input").disabled = !offered;
      });
      if (changed && size) size.value = card.dataset.size;
    };
    form.querySelectorAll("input[name=concept]").forEach((input) =>
      input.addEventListener("change", () => update(input, true)));
    update(form.querySelector("input[name=concept]:checked"), false);
    const words = form.querySelector("textarea[name=instruction]");
    form.querySelectorAll("button.example").forEach((example) =>
      example.addEventListener("click", () => { if (words) { words.value = example.dataset.text; words.focus(); } }));
  }

  // ---- the pack page -----------------------------------------------------------------------------
  const panel = document.getElementById("pack");
  if (!panel || panel.dataset.finished === "1") return;
  function formatEta(seconds) {
    if (!seconds) return "";
    if (seconds < 90) return fill(panel.dataset.etaSeconds, "n", seconds);
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return fill(panel.dataset.etaMinutes, "n", minutes);
    return fill(fill(panel.dataset.etaHours, "h", Math.floor(minutes / 60)), "m", minutes % 60);
  }
  function show(card, picture) {
    const q = (selector) => card.querySelector(selector);
    card.dataset.status = picture.status;
    card.className = card.className.replace(/\b(queued|running|succeeded|failed|cancelled)\b/g, "").trim() + " " + picture.status;
    const status = q(".job-status");
    status.className = "status job-status " + picture.status;
    status.textContent = picture.status_label;
    const stage = q(".job-stage");
    if (stage) stage.textContent = finalStatuses.includes(picture.status) ? "" : picture.stage_label;
    const bar = q(".job-bar");
    if (bar) bar.style.width = picture.percent + "%";
    const eta = q(".job-eta");
    if (eta) {
      eta.textContent = picture.queue_position !== null && picture.queue_position !== undefined
        ? fill(panel.dataset.queueLabel, "n", picture.queue_position + 1) : formatEta(picture.eta_seconds);
    }
    if (picture.done && !q(".portrait-frame img")) {
      const image = document.createElement("img");
      image.alt = fill(panel.dataset.altLabel, "n", picture.index);
      image.src = picture.image_url;
      const frame = q(".portrait-frame");
      frame.replaceChildren(image);
      if (bar) bar.parentElement.hidden = true;
      if (eta) eta.textContent = "";
      q(".portrait-actions").hidden = false;
      document.getElementById("download-zip").hidden = false;
    }
  }
  async function poll() {
    let state;
    try {
      const response = await fetch(panel.dataset.stateUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      state = await response.json();
    } catch (e) { setTimeout(poll, 3000); return; }
    state.pictures.forEach((picture) => {
      const card = document.getElementById(`picture-${picture.id}`);
      if (card) show(card, picture);
    });
    document.getElementById("pack-done").textContent =
      fill(fill(panel.dataset.doneLabel, "done", state.done), "total", state.total);
    document.getElementById("pack-eta").textContent = formatEta(state.eta_seconds);
    const bar = document.getElementById("pack-bar");
    bar.style.width = state.percent + "%";
    bar.parentElement.setAttribute("aria-valuenow", state.percent);
    if (state.finished) { setTimeout(() => window.location.reload(), 600); return; }
    setTimeout(poll, 1200);
  }
  poll();
})();
