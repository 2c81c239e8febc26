// The audit finding form: posts an audit_finding_recorded to the API with the session cookie
// (the browser adds Origin and Sec-Fetch-Site, the server's CSRF check), then shows the trail.
"use strict";

(function () {
  const form = document.getElementById("finding");
  if (!form) return;
  // After recording, the page reloads with the finding as the trail's last event: show it.
  let recorded = null;
  try { recorded = sessionStorage.getItem("frontdoor-finding"); sessionStorage.removeItem("frontdoor-finding"); } catch (_) { /* private mode */ }
  if (recorded) {
    const done = document.getElementById("finding-done");
    done.textContent = "Finding recorded as event " + recorded + ": it is the last event in the trail below.";
    done.hidden = false;
    const rows = document.querySelectorAll("#trail tr.event");
    if (rows.length) rows[rows.length - 1].classList.add("just-recorded");
  }
  const status = document.getElementById("finding-status");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = document.getElementById("finding-submit");
    button.disabled = true;
    status.textContent = "Recording…";
    try {
      const r = await fetch("/v1/contacts/" + encodeURIComponent(form.dataset.contact) + "/events", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          type: "audit_finding_recorded",
          data: { grade: form.elements.grade.value, findings: form.elements.findings.value },
        }),
      });
      const body = await r.json();
      if (r.status !== 201) throw new Error(body.detail || r.statusText);
      status.textContent = "Recorded as event " + body.version + ". Reloading the trail…";
      try { sessionStorage.setItem("frontdoor-finding", String(body.version)); } catch (_) { /* private mode */ }
      setTimeout(() => window.location.reload(), 600);
    } catch (err) {
      status.textContent = "Not recorded: " + err.message;
      button.disabled = false;
    }
  });
})();
