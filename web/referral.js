// A referrer's pages. The referral form is sent as JSON to POST /v1/contacts, information and
// the feedback survey as one event each to POST /v1/contacts/{id}/events, all with the session
// cookie (the browser adds Origin and Sec-Fetch-Site, the server's CSRF check): the API's one
// command path. 201: a confirmation with the contact's reference, or the page reloaded with the
// new state. 422: the API's errors beside the fields they name. Everything from the server is
// set as text, never HTML.
"use strict";

(function () {
  const KEY = "frontdoor-referral-news";

  // A field's path (`children[0].name`) → where its value goes in the body.
  function put(data, path, value) {
    const parts = path.replace(/\]/g, "").split(/[.[]/);
    let node = data;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]);
      if (last) node[part] = value;
      else node = node[part] ?? (node[part] = nextIsIndex ? [] : {});
    });
  }

  const empty = (v) => v === undefined || v === null || v === "" ||
    (Array.isArray(v) && v.every(empty)) ||
    (typeof v === "object" && !Array.isArray(v) && Object.values(v).every(empty));

  // Drops what was left blank (a second child left empty is not sent).
  function prune(v) {
    if (Array.isArray(v)) {
      const items = Array.from(v, (x) => (x === undefined ? {} : prune(x)));
      while (items.length && empty(items[items.length - 1])) items.pop();
      return items;
    }
    if (v && typeof v === "object") {
      const out = {};
      for (const [k, x] of Object.entries(v)) {
        const p = prune(x);
        if (!empty(p) || typeof p === "boolean") out[k] = p;
      }
      return out;
    }
    return v;
  }

  function dataOf(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || !el.dataset.kind) continue;
      if (el.dataset.kind === "check") { put(data, el.name, el.checked); continue; }
      if (el.type === "radio" && !el.checked) continue;
      const raw = el.value.trim();
      if (raw === "") continue;
      put(data, el.name, el.dataset.kind === "number" ? Number(raw) : raw);
    }
    return prune(data);
  }

  const slotOf = (el) => document.getElementById(el.dataset.error || "err-" + el.id);

  function clearErrors(form) {
    for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      const described = (el.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.startsWith("err-"));
      if (described.length) el.setAttribute("aria-describedby", described.join(" ")); else el.removeAttribute("aria-describedby");
    }
  }

  // Shows each of the API's errors beside its field; returns those no field of the form names.
  function showErrors(form, errors) {
    const rest = [];
    let first = null;
    for (const e of errors || []) {
      const path = String(e.field || "").replace(/^data\./, "");
      const el = [...form.elements].find((x) => x.name === path) ||
        [...form.elements].find((x) => x.name && x.name.startsWith(path + ".") && x.type !== "hidden") ||
        [...form.elements].find((x) => x.name && x.name.startsWith(path + "[") && x.type !== "hidden");
      const slot = el && el.type !== "hidden" ? slotOf(el) : null;
      if (!slot) { rest.push(e); continue; }
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + e.message;
      slot.hidden = false;
      el.setAttribute("aria-invalid", "true");
      const described = (el.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!described.includes(slot.id)) described.push(slot.id);
      el.setAttribute("aria-describedby", described.join(" "));
      if (!first) first = el;
    }
    if (first) first.focus();
    return rest;
  }

  // Sends `body` to `url`; on 201 calls `done` with the answer, else shows why not.
  async function send(form, url, body, done) {
    const status = form.querySelector(".form-status");
    const button = form.querySelector("button[type=submit]");
    clearErrors(form);
    button.disabled = true;
    status.textContent = "Sending…";
    let r, answer;
    try {
      r = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      answer = await r.json().catch(() => ({}));
    } catch (err) {
      status.textContent = "Not sent: the server could not be reached (" + err.message + "). Try again.";
      button.disabled = false;
      return;
    }
    if (r.status === 201) { status.textContent = ""; done(answer); return; }
    const rest = r.status === 422 ? showErrors(form, answer.errors) : [];
    const others = rest.map((e) => e.field + ": " + e.message).join("; ");
    status.textContent = "Not sent: " + (others || answer.detail || r.statusText);
    button.disabled = false;
  }

  // The referral form.
  const referral = document.getElementById("referral-form");
  if (referral) {
    referral.addEventListener("submit", (e) => {
      e.preventDefault();
      send(referral, "/v1/contacts", dataOf(referral), (answer) => {
        const id = String(answer.contact_id);
        referral.hidden = true;
        document.getElementById("referral-reference").textContent = id;
        document.getElementById("referral-open").href = "/referrals/" + encodeURIComponent(id);
        const box = document.getElementById("referral-done");
        box.hidden = false;
        box.focus();
      });
    });
  }

  // A contact the referrer made: information and feedback.
  const page = document.getElementById("referral");
  if (page) {
    const contact = page.dataset.contact;
    for (const form of document.querySelectorAll("form[data-event]")) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const url = "/v1/contacts/" + encodeURIComponent(contact) + "/events";
        send(form, url, { type: form.dataset.event, data: dataOf(form) }, () => {
          const what = form.dataset.event === "note_added" ? "Your information was added to this referral." : "Thank you: your answers were recorded.";
          try { sessionStorage.setItem(KEY, what); } catch (_) { /* private mode */ }
          window.location.reload();
        });
      });
    }
    let news = null;
    try { news = sessionStorage.getItem(KEY); sessionStorage.removeItem(KEY); } catch (_) { /* private mode */ }
    if (news) {
      const done = document.getElementById("done");
      done.textContent = news;
      done.hidden = false;
      done.setAttribute("tabindex", "-1");
      done.focus();
    }
  }
})();
