// Live progress (polls the status JSON until the job is final) and the before/after slider.
(function () {
  const panel = document.getElementById("job");
  const finalStatuses = ["succeeded", "failed", "cancelled"];
  function fill(template, key, value) { return template.replace(`%(${key})s`, value); }
  async function poll() {
    let state;
    try {
      const response = await fetch(panel.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      state = await response.json();
    } catch (e) {
      setTimeout(poll, 3000);
      return;
    }
    if (finalStatuses.includes(state.status)) {
      window.location.reload(); // the server renders the result, pins, items or the reason
      return;
    }
    const status = document.getElementById("job-status");
    status.className = "status " + state.status;
    status.textContent = state.status_label;
    document.getElementById("job-stage").textContent = state.stage_label;
    let extra = "";
    if (state.queue_position !== null) extra = fill(panel.dataset.queueLabel, "n", state.queue_position + 1);
    else if (state.eta_seconds) extra = fill(panel.dataset.etaLabel, "s", state.eta_seconds);
    document.getElementById("job-eta").textContent = extra;
    const bar = document.getElementById("job-bar");
    if (bar) {
      bar.style.width = state.percent + "%";
      bar.parentElement.setAttribute("aria-valuenow", state.percent);
    }
    setTimeout(poll, 1000);
  }
  if (panel && !finalStatuses.includes(panel.dataset.status)) poll();

  const range = document.getElementById("compare-range");
  const clip = document.getElementById("before-clip");
  if (range && clip) {
    const update = () => { clip.style.width = range.value + "%"; };
    range.addEventListener("input", update);
    update();
  }
})();
