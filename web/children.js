// Linking a contact's child to a child of the index, and unlinking a wrongly linked contact,
// from the children pages: each form posts a children_linked or children_unlinked to the API
// with the session cookie (the browser adds Origin and Sec-Fetch-Site, the server's CSRF
// check), as POST /v1/contacts/{id}/events with the contact's version as expected_version.
// The API's 422 messages are shown beside the field they name; on 409 (someone else recorded
// on the contact meanwhile) the page is fetched again, saying so.
"use strict";

(function () {
  const done = document.getElementById("link-done");
  let said = null;
  try { said = sessionStorage.getItem("frontdoor-link"); sessionStorage.removeItem("frontdoor-link"); } catch (_) { /* private mode */ }
  if (said && done) {
    done.textContent = said;
    done.hidden = false;
  }
  const again = (message) => {
    try { sessionStorage.setItem("frontdoor-link", message); } catch (_) { /* private mode */ }
    window.location.reload();
  };
  for (const form of document.querySelectorAll("form.link-child")) {
    const reason = form.elements.reason;
    const fieldError = form.querySelector(".field-error");
    const status = form.querySelector(".link-status");
    const button = form.querySelector("button");
    const linking = form.dataset.type === "children_linked";
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      button.disabled = true;
      fieldError.textContent = "";
      reason.removeAttribute("aria-invalid");
      status.textContent = linking ? "Linking…" : "Unlinking…";
      try {
        const r = await fetch("/v1/contacts/" + encodeURIComponent(form.dataset.contact) + "/events", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            type: form.dataset.type,
            expected_version: Number(form.dataset.version),
            data: {
              child_index: Number(form.dataset.childIndex),
              child_id: form.dataset.childId,
              reason: reason.value,
            },
          }),
        });
        const body = await r.json().catch(() => ({}));
        if (r.status === 201) {
          again(linking
            ? "Linked: the contact's child is now the child " + form.dataset.childId + "."
            : "Unlinked: that contact's child is no longer the child " + form.dataset.childId + ".");
          return;
        }
        if (r.status === 409) {
          again("Not recorded: someone else recorded on that contact meanwhile. This page now shows what is current; check it and try again.");
          return;
        }
        const errors = Array.isArray(body.errors) ? body.errors : [];
        const onReason = errors.filter((x) => x.field === "data.reason");
        if (onReason.length) {
          fieldError.textContent = onReason.map((x) => x.message).join("; ");
          reason.setAttribute("aria-invalid", "true");
          reason.focus();
        }
        const other = errors.filter((x) => x.field !== "data.reason").map((x) => x.message);
        status.textContent = onReason.length && !other.length
          ? "Not recorded."
          : "Not recorded: " + (other.length ? other.join("; ") : (body.detail || r.statusText));
      } catch (err) {
        status.textContent = "Not recorded: " + err.message;
      }
      button.disabled = false;
    });
  }
})();
