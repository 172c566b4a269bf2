// Live progress: polls the job's status JSON until the job is final, then reloads (the server renders
// the result, the pins and items, or the reason). Every product's progress page uses it.
//
// - Queued: "N ahead of you · about M min" (the page's labels; pages without them: "Position in line").
// - Running: the time left, but never at step 0 ("Starting"): an estimate from nothing only climbs.
//   While the percentage stands still the estimate is not raised either.
// - When the status cannot be fetched, the page says so ("Connection lost — reconnecting…") and tries
//   again with a growing delay; when it is back, the message goes away by itself.
(function () {
  const panel = document.getElementById("job");
  const finalStatuses = ["succeeded", "failed", "cancelled"];
  if (!panel || finalStatuses.includes(panel.dataset.status)) return;
  const labels = panel.dataset;
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 10000;
  let failures = 0;
  let shownEta = null; // {percent, seconds} of the running estimate on screen

  function fill(template, key, value) { return template.replace(`%(${key})s`, value); }
  function minutes(seconds) { return Math.max(1, Math.ceil(seconds / 60)); }

  function queueText(state) {
    const position = state.queue_position;
    if (position === null || position === undefined) return "";
    if (!labels.aheadLabel) return fill(labels.queueLabel || "%(n)s", "n", position + 1);
    const parts = [position > 0 ? fill(labels.aheadLabel, "n", position) : labels.nextLabel];
    if (state.eta_seconds) {
      parts.push(state.eta_seconds < 60 ? labels.waitSoonLabel : fill(labels.waitLabel, "m", minutes(state.eta_seconds)));
    }
    return parts.join(" · ");
  }

  function runningText(state) {
    if (state.stage === "starting" || !state.eta_seconds) {
      shownEta = null;
      return "";
    }
    let seconds = state.eta_seconds;
    if (shownEta && shownEta.percent === state.percent && seconds > shownEta.seconds) seconds = shownEta.seconds;
    shownEta = { percent: state.percent, seconds };
    if (seconds >= 60 && labels.etaMinutesLabel) return fill(labels.etaMinutesLabel, "m", minutes(seconds));
    return fill(labels.etaLabel, "s", seconds);
  }

  function connection(lost) {
    let line = document.getElementById("job-connection");
    if (!line && lost && labels.lostLabel) {
      line = document.createElement("p");
      line.id = "job-connection";
      line.className = "connection";
      line.setAttribute("role", "status");
      panel.querySelector(".status-line").after(line);
    }
    if (!line) return;
    if (lost && labels.lostLabel) line.textContent = labels.lostLabel;
    line.hidden = !lost;
  }

  function show(state) {
    const status = document.getElementById("job-status");
    status.className = "status " + state.status;
    status.textContent = state.status_label;
    const stage = document.getElementById("job-stage");
    if (stage) stage.textContent = state.stage === "starting" ? state.stage_label || labels.startingLabel || "" : state.stage_label;
    const eta = document.getElementById("job-eta");
    const queued = state.status === "queued" || (state.queue_position !== null && state.queue_position !== undefined);
    if (eta) eta.textContent = queued ? queueText(state) : runningText(state);
    const bar = document.getElementById("job-bar");
    if (bar) {
      bar.style.width = state.percent + "%";
      bar.parentElement.setAttribute("aria-valuenow", state.percent);
    }
  }

  async function poll() {
    let state;
    try {
      const response = await fetch(panel.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 404) { window.location.reload(); return; } // deleted meanwhile
      // Signed out meanwhile (the session expired): the login page came back, not JSON. Reloading
      // shows the login form instead of "reconnecting" forever.
      const type = response.headers.get("Content-Type") || "";
      if (response.redirected || (response.ok && !type.includes("json"))) { window.location.reload(); return; }
      if (!response.ok) throw new Error(String(response.status));
      state = await response.json();
    } catch (error) {
      failures += 1;
      connection(true);
      setTimeout(poll, Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** Math.min(failures, 4)));
      return;
    }
    if (failures) { failures = 0; connection(false); }
    if (finalStatuses.includes(state.status)) {
      window.location.reload();
      return;
    }
    show(state);
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
