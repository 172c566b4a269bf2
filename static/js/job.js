// Polls the job's status until it is final, then shows the result. No framework needed.
(function () {
  const panel = document.getElementById("job");
  if (!panel) return;
  const finalStatuses = ["succeeded", "failed", "cancelled"];
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
    document.getElementById("job-status").textContent = state.status;
    document.getElementById("job-status").className = "status " + state.status;
    document.getElementById("job-stage").textContent =
      state.total_steps ? `${state.stage} (${state.step}/${state.total_steps})` : state.stage;
    const bar = document.getElementById("job-bar");
    bar.style.width = state.percent + "%";
    bar.parentElement.setAttribute("aria-valuenow", state.percent);
    if (state.error_message) {
      const error = document.getElementById("job-error");
      error.textContent = state.error_message;
      error.hidden = false;
    }
    if (state.status === "succeeded") {
      window.location.reload();  // the server renders the result, pins and items
      return;
    }
    if (!finalStatuses.includes(state.status)) setTimeout(poll, 1000);
  }
  if (!finalStatuses.includes(panel.dataset.status)) poll();
})();
