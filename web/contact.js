// A contact's page: each action's form is sent as one event to POST /v1/contacts/{id}/events
// with the session cookie (the browser adds Origin and Sec-Fetch-Site, the server's CSRF
// check) and expected_version = the version the page shows. 201: the page reloads with the
// new state. 422: the API's errors beside the fields they name. 409: someone else recorded on
// the contact meanwhile; nothing was written: the page reloads with the fresh record, says so
// and puts back what was typed. Everything from the server is set as text, never HTML.
"use strict";

(function () {
  const record = document.getElementById("record");
  if (!record) return;
  const contact = record.dataset.contact;
  const version = Number(record.dataset.version);
  const KEY = "frontdoor-contact-" + contact;

  // A field's path (`participants[0].name`) → where its value goes in `data`.
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

  // Drops what was left blank: empty fields, blank rows at the end of a list, empty lists.
  // A blank row before a filled one stays (as {}), so the API's error names the right row.
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
        if (!empty(p)) out[k] = p;
      }
      return out;
    }
    return v;
  }

  function value(el) {
    const kind = el.dataset.kind;
    if (kind === "check") return el.checked;
    const raw = el.value.trim();
    if (raw === "") return "";
    switch (kind) {
      case "number": return Number(raw);
      case "minutes": return Math.round(Number(raw) * 60);
      case "datetime": { const d = new Date(raw); return isNaN(d) ? raw : d.toISOString(); }
      case "lines": return raw.split("\n").map((s) => s.trim()).filter(Boolean);
      case "value": try { return JSON.parse(raw); } catch (_) { return raw; }
      default: return raw;
    }
  }

  function dataOf(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || !el.dataset.kind) continue;
      const v = value(el);
      if (el.dataset.kind === "check" || v !== "") put(data, el.name, v);
    }
    return prune(data);
  }

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
        [...form.elements].find((x) => x.name && path.startsWith(x.name + "[")) ||
        [...form.elements].find((x) => x.name && x.name.startsWith(path + "[") && x.type !== "hidden");
      if (!el || el.type === "hidden") { rest.push(e); continue; }
      const slot = document.getElementById("err-" + el.id);
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

  function remember(message, form) {
    const typed = form ? [...form.elements].filter((el) => el.name).map((el) => [el.name, el.type === "checkbox" ? el.checked : el.value]) : null;
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ message, event: form ? form.dataset.event : null, typed }));
    } catch (_) { /* private mode */ }
  }

  async function send(form) {
    const status = form.querySelector(".form-status");
    const button = form.querySelector("button[type=submit]");
    clearErrors(form);
    // What the last reload said is about an earlier action: not this one.
    document.getElementById("done").hidden = true;
    document.getElementById("conflict").hidden = true;
    button.disabled = true;
    status.textContent = "Recording…";
    let r, body;
    try {
      r = await fetch("/v1/contacts/" + encodeURIComponent(contact) + "/events", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ type: form.dataset.event, data: dataOf(form), expected_version: version }),
      });
      body = await r.json().catch(() => ({}));
    } catch (err) {
      status.textContent = "Not recorded: the server could not be reached (" + err.message + "). Try again.";
      button.disabled = false;
      return;
    }
    if (r.status === 201) {
      const title = form.closest("details").querySelector("summary").textContent;
      remember(title + ": recorded as event " + body.version + ".", null);
      window.location.reload();
      return;
    }
    if (r.status === 409) {
      remember("Not recorded: someone else recorded on this contact while you had it open (it is now at version " +
        body.current_version + "). Below is the record as it is now; what you typed is still in the form. " +
        "Check it against the new state and send it again if it still stands.", form);
      window.location.reload();
      return;
    }
    const rest = r.status === 422 ? showErrors(form, body.errors) : [];
    const detail = body.detail || r.statusText;
    const others = rest.map((e) => e.field + ": " + e.message).join("; ");
    status.textContent = "Not recorded: " + (others || detail);
    button.disabled = false;
  }

  for (const form of document.querySelectorAll("form[data-event]")) {
    form.addEventListener("submit", (e) => { e.preventDefault(); send(form); });
  }

  // A call starts now unless said otherwise.
  for (const el of document.querySelectorAll('input[data-kind="datetime"]')) {
    const d = new Date();
    d.setSeconds(0, 0);
    el.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  // After a reload: what was recorded, or the conflict, with what was typed put back.
  let note = null;
  try { note = JSON.parse(sessionStorage.getItem(KEY) || "null"); sessionStorage.removeItem(KEY); } catch (_) { /* private mode */ }
  if (note && note.typed) {
    const box = document.getElementById("conflict");
    box.textContent = note.message;
    box.hidden = false;
    const form = document.querySelector('form[data-event="' + CSS.escape(note.event) + '"]');
    if (form) {
      form.closest("details").open = true;
      for (const [name, v] of note.typed) {
        const el = [...form.elements].find((x) => x.name === name);
        if (!el || el.type === "hidden") continue;
        if (el.type === "checkbox") el.checked = v; else el.value = v;
      }
    }
    box.setAttribute("tabindex", "-1");
    box.focus();
  } else if (note) {
    const done = document.getElementById("done");
    done.textContent = note.message;
    done.hidden = false;
    // The reload keeps the scroll position: bring the news into view (and to a screen reader).
    done.setAttribute("tabindex", "-1");
    done.focus();
  }
})();
