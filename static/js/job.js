// Live progress: follows the job's event stream (Server-Sent Events, pushed by the server) until the
// job is final, then reloads (the server renders the result, the pins and items, or the reason).
// A dropped stream reconnects by itself; where the stream cannot be had (an old browser, a refusal, a
// proxy that buffers, a server without it) it polls the job's status JSON instead, as it always did. Both carry the same JSON. Every product's progress
// page uses it.
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
  // The stream first. EventSource reconnects by itself after a drop (a deploy, a restart, a flaky
  // network): the server sends `retry:` and skips the state the page already has (Last-Event-ID).
  // Polling takes over, with its own backoff and message, only when the stream is refused (readyState
  // CLOSED: an answer that is no stream, e.g. 401, 404, 429 or 503) or keeps failing (3 errors in 30 s).
  const STREAM_ERRORS = 3;
  const STREAM_ERROR_WINDOW_MS = 30000;
  function follow() {
    const url = panel.dataset.eventsUrl;
    if (!url || !window.EventSource) { poll(); return; }
    const source = new EventSource(url);
    let fellBack = false;
    let errors = [];
    function fallBack() {
      source.close();
      if (fellBack) return;
      fellBack = true;
      poll();
    }
    source.addEventListener("state", (event) => {
      let state;
      try { state = JSON.parse(event.data); } catch (error) { return; }
      connection(false);
      if (finalStatuses.includes(state.status)) {
        source.close();
        window.location.reload();
        return;
      }
      show(state);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) { fallBack(); return; }
      const now = Date.now();
      errors = errors.filter((at) => now - at < STREAM_ERROR_WINDOW_MS);
      errors.push(now);
      if (errors.length >= STREAM_ERRORS) { fallBack(); return; }
      connection(true); // EventSource is reconnecting by itself
    });
  }
  follow();
})();
