// The duty board: follows GET /v1/queue/stream (the session cookie authenticates it) and
// draws the queue. EventSource reconnects by itself and sends Last-Event-ID, so after a drop
// the server sends only what changed. Everything from the server is set as text, never HTML.
"use strict";

(function () {
  const SOURCES = {
    "1A": "Individual: family member/relative/carer", "1B": "Individual: acquaintance (incl. neighbours, child minders)",
    "1C": "Individual: self", "1D": "Individual: other", "2A": "Schools", "2B": "Education services",
    "3A": "Health: GP", "3B": "Health: health visitor", "3C": "Health: school nurse", "3D": "Health: other primary health",
    "3E": "Health: A&E", "3F": "Health: other", "4": "Housing", "5A": "LA services: social care", "5B": "LA services: other internal",
    "5C": "LA services: external", "5D": "Early help", "6": "Police", "7": "Other legal agency", "8": "Other",
    "9": "Anonymous", "10": "Unknown",
  };
  const CHANNELS = {
    phone: "Phone", online_form: "Online form", email: "Email", police_notification: "Police notification",
    in_person: "In person", other: "Other",
  };
  const STAGES = {
    awaiting_decision: "Awaiting decision", decided: "Decided", handover_sent: "Handover sent",
    handover_accepted: "Handover accepted", handover_returned: "Handover returned", closed: "Closed",
  };
  const OUTCOMES = {
    strategy_discussion: "Strategy discussion", assessment: "Assessment", early_help: "Early help",
    advice_and_signpost: "Advice and signposting", no_further_action: "No further action",
    existing_case: "Existing case", not_accepted: "Not accepted",
  };

  const items = new Map();
  const fresh = new Map(); // contact id -> when it arrived live
  let snapshots = 0, reconnects = 0, opened = false, position = null;
  const $ = (id) => document.getElementById(id);
  const body = $("queue-body");
  const handovers = $("handovers-body");
  const me = $("filters").dataset.me || "";
  // Which list an item is on (the server's `list`; older servers sent none: by its stage).
  const onHandovers = (i) => (i.list ? i.list === "handover_awaiting_acceptance" : i.stage !== "awaiting_decision");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  const urgent = (i) => i.immediate_risk || i.rating === "red";
  const due = (i) => Date.parse(i.due_by);
  // The queue's own rule: overdue strictly after the due-by instant (the server's `overdue`,
  // kept up to date here between its ticks).
  const isOverdue = (i) => i.overdue || due(i) < Date.now();

  function order(a, b) {
    return (isOverdue(b) - isOverdue(a)) || (urgent(b) - urgent(a)) || (due(a) - due(b)) ||
      (Date.parse(a.received_at) - Date.parse(b.received_at)) || (a.contact_id < b.contact_id ? -1 : 1);
  }

  function span(ms) {
    const m = Math.floor(Math.abs(ms) / 60000);
    if (m < 1) return "under a minute";
    const d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + String(mm).padStart(2, "0") + " min";
    return mm + " min";
  }

  function dueText(i) {
    const left = due(i) - Date.now();
    return isOverdue(i) ? "Overdue by " + span(left) : "Due in " + span(left);
  }

  function clock(iso) {
    return new Date(iso).toLocaleString("en-GB", { timeZone: "Europe/London", weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function children(i) {
    const names = (i.children || []).map((c) => (c.name || "").trim().split(/\s+/)[0] + (c.age === null || c.age === undefined ? " (age not known)" : c.age === 0 ? ", under 1" : ", " + c.age));
    return names.join("; ") || "–";
  }

  function badges(i) {
    const out = el("ul", { class: "badges" });
    if (isOverdue(i)) out.append(el("li", { class: "badge overdue" }, el("span", { "aria-hidden": "true" }, "⚠ "), "OVERDUE"));
    if (i.immediate_risk) out.append(el("li", { class: "badge risk" }, el("span", { "aria-hidden": "true" }, "‼ "), "IMMEDIATE RISK"));
    if (i.rating) out.append(el("li", { class: "badge rating-" + i.rating }, el("span", { "aria-hidden": "true" }, i.rating === "red" ? "● " : "○ "), i.rating.toUpperCase()));
    else out.append(el("li", { class: "badge unrated" }, "Not rated"));
    if (fresh.has(i.contact_id)) out.append(el("li", { class: "badge new" }, "NEW"));
    return out;
  }

  function row(i) {
    const cls = ["item"];
    if (isOverdue(i)) cls.push("is-overdue");
    if (urgent(i)) cls.push("is-urgent");
    if (fresh.has(i.contact_id)) cls.push("is-new");
    const who = children(i);
    const source = el("abbr", { title: SOURCES[i.source] || "CIN source code " + i.source }, i.source);
    const button = el("button", { type: "button", class: "open", "data-id": i.contact_id, "aria-label": "Timeline of the contact about " + who }, "Timeline");
    const stage = (STAGES[i.stage] || i.stage) + (i.outcome ? ": " + (OUTCOMES[i.outcome] || i.outcome) : "");
    return el("tr", { class: cls.join(" "), "data-id": i.contact_id },
      el("td", { class: "due" }, el("span", { class: "countdown", "data-due": i.due_by }, dueText(i)), el("br"),
        el("small", {}, (i.stage === "awaiting_decision" ? "Decision due " : "Handover due ") + clock(i.due_by))),
      el("td", {}, badges(i)),
      el("th", { scope: "row", class: "children" },
        el("a", { href: "/contacts/" + encodeURIComponent(i.contact_id), class: "contact-link" }, who),
        i.concerns_summary ? el("span", { class: "concerns" }, i.concerns_summary) : null),
      el("td", { class: "stage" }, stage),
      el("td", {}, CHANNELS[i.channel] || i.channel),
      el("td", {}, source, " ", el("span", { class: "source-text" }, SOURCES[i.source] || "")),
      el("td", { class: "num" }, el("a", { href: "/children?contact=" + encodeURIComponent(i.contact_id), class: "matches" },
        String(i.previous_contacts ?? 0), el("span", { class: "visually-hidden" }, " previous contacts: possible matches of " + who)),
        // A child of the contact sounds like a child the index has not linked to it.
        i.possible_match ? el("a", { href: "/children?contact=" + encodeURIComponent(i.contact_id), class: "possible-match" },
          el("span", { "aria-hidden": "true" }, "? "), "possible match", el("span", { class: "visually-hidden" }, " for " + who)) : null),
      el("td", { class: "worker" }, i.assigned_to || "Unallocated"),
      el("td", {}, button));
  }

  function matches(i) {
    const stage = $("f-stage").value, rating = $("f-rating").value;
    if (stage && i.stage !== stage) return false;
    if (rating === "urgent" && !urgent(i)) return false;
    if (rating === "none" && i.rating) return false;
    if (rating && rating !== "urgent" && rating !== "none" && i.rating !== rating) return false;
    if ($("f-overdue").checked && !isOverdue(i)) return false;
    const worker = $("f-worker").value;
    if (worker === "me" && i.assigned_to !== me) return false;
    if (worker === "none" && i.assigned_to) return false;
    if (worker && worker !== "me" && worker !== "none" && i.assigned_to !== worker.slice(2)) return false;
    return true;
  }

  // The worker filter offers every worker allocated on the queue (as `w:` + id).
  function workers(all) {
    const select = $("f-worker"), chosen = select.value;
    const names = [...new Set(all.map((i) => i.assigned_to).filter((w) => w && w !== me))].sort();
    const have = [...select.options].slice(3).map((o) => o.value);
    const want = names.map((n) => "w:" + n);
    if (chosen.startsWith("w:") && !want.includes(chosen)) want.push(chosen);
    if (have.join("\n") === want.join("\n")) return;
    for (const o of [...select.options].slice(3)) o.remove();
    for (const v of want) select.append(el("option", { value: v }, v.slice(2)));
    select.value = chosen;
  }

  function render() {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    const all = [...items.values()].sort(order);
    workers(all);
    const shown = all.filter(matches);
    const lists = [[body, all.filter((i) => !onHandovers(i)), "No decisions due."], [handovers, all.filter(onHandovers), "No handovers awaiting acceptance."]];
    const counts = [];
    for (const [tbody, list, none] of lists) {
      const visible = list.filter(matches);
      tbody.replaceChildren(...visible.map(row));
      if (visible.length === 0) tbody.append(el("tr", {}, el("td", { colspan: "9", class: "empty" }, list.length ? "Nothing matches these filters." : none)));
      counts.push(list.length + " (" + list.filter(isOverdue).length + " overdue)");
    }
    const overdue = all.filter(isOverdue).length, urgentCount = all.filter(urgent).length;
    $("summary").textContent = all.length + " contacts on the queue: " + overdue + " overdue, " + urgentCount + " immediate risk or red. " +
      "Decisions due: " + counts[0] + "; handovers awaiting acceptance: " + counts[1] +
      (shown.length !== all.length ? ". Showing " + shown.length + "." : ".");
    document.body.dataset.items = String(all.length);
    if (focused) {
      const again = document.querySelector('.queue button[data-id="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function announce(region, text) {
    const p = el("p", {}, text);
    $(region).append(p);
    setTimeout(() => p.remove(), 20000);
  }

  function upsert(item, live) {
    const before = items.get(item.contact_id);
    items.set(item.contact_id, item);
    if (live && !before) {
      fresh.set(item.contact_id, Date.now());
      announce(urgent(item) ? "alerts" : "arrivals", "New contact: " + children(item) + ", " + (CHANNELS[item.channel] || item.channel) + (urgent(item) ? ", immediate risk or red" : "") + ".");
    } else if (live && before && !before.overdue && item.overdue) {
      announce("alerts", "Now overdue: " + children(item) + ".");
    }
  }

  function setConnection(state, text) {
    $("connection").dataset.state = state;
    $("connection-text").textContent = text;
    document.body.dataset.connection = state;
  }

  function track(e) {
    if (e.lastEventId) position = e.lastEventId;
    document.body.dataset.position = position || "";
  }

  function connect() {
    const source = new EventSource("/v1/queue/stream");
    source.addEventListener("open", () => {
      if (opened) {
        reconnects += 1;
        document.body.dataset.reconnects = String(reconnects);
      }
      opened = true;
      setConnection("live", "Live" + (reconnects ? " (reconnected, up to date)" : ""));
    });
    source.addEventListener("snapshot", (e) => {
      track(e);
      snapshots += 1;
      document.body.dataset.snapshots = String(snapshots);
      const data = JSON.parse(e.data);
      items.clear();
      for (const item of data.items) items.set(item.contact_id, item);
      render();
    });
    source.addEventListener("upsert", (e) => { track(e); upsert(JSON.parse(e.data), true); render(); });
    source.addEventListener("remove", (e) => { track(e); items.delete(JSON.parse(e.data).contact_id); render(); });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (signed out, token revoked): say so rather than retry for ever.
        setConnection("down", "Disconnected. Checking the session…");
        fetch("/v1/queue", { credentials: "same-origin" }).then((r) => {
          if (r.status === 401) {
            setConnection("down", "Signed out: sign in again to see the live queue.");
            const link = el("a", { href: "/signin" }, "Sign in");
            $("connection").append(" ", link);
          } else {
            setTimeout(connect, 3000);
          }
        }, () => setTimeout(connect, 3000));
      } else {
        setConnection("reconnecting", "Connection lost: reconnecting…");
      }
    });
  }

  // The countdowns move every second without a redraw; an item whose time runs out moves up.
  setInterval(() => {
    let reorder = false;
    for (const [id, at] of fresh) if (Date.now() - at > 120000) { fresh.delete(id); reorder = true; }
    for (const node of document.querySelectorAll(".queue .countdown")) {
      const item = items.get(node.closest("tr").dataset.id);
      if (!item) continue;
      const text = dueText(item);
      if (isOverdue(item) !== node.closest("tr").classList.contains("is-overdue")) reorder = true;
      if (node.textContent !== text) node.textContent = text;
    }
    if (reorder) render();
  }, 1000);

  // The timeline of one contact, in a dialog (Escape closes it, focus goes back).
  let opener = null;
  async function openTimeline(id, button) {
    opener = button;
    const dialog = $("detail"), list = $("timeline");
    const item = items.get(id);
    $("detail-title").textContent = "Timeline: " + (item ? children(item) : id);
    $("detail-open").href = "/contacts/" + encodeURIComponent(id);
    list.replaceChildren(el("li", {}, "Loading…"));
    dialog.showModal();
    try {
      const r = await fetch("/v1/contacts/" + encodeURIComponent(id) + "/events", { credentials: "same-origin" });
      if (!r.ok) throw new Error((await r.json()).detail || r.statusText);
      const events = await r.json();
      list.replaceChildren(...events.map((ev) => el("li", { class: "ev" },
        el("p", { class: "ev-head" }, el("strong", {}, ev.type.replace(/_/g, " ")), " · ", clock(ev.occurred_at), " · ", ev.actor.id + " (" + ev.actor.role.replace(/_/g, " ") + ")"),
        el("p", { class: "ev-data" }, summary(ev)))));
      dialog.dataset.loaded = String(events.length);
    } catch (err) {
      list.replaceChildren(el("li", { role: "alert" }, "Could not load the timeline: " + err.message));
    }
  }

  function summary(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case "contact_received": return (CHANNELS[d.channel] || d.channel) + " from " + (d.referrer && d.referrer.name || "?") + (d.referrer && d.referrer.organisation ? " (" + d.referrer.organisation + ")" : "") + ": " + (d.concerns || "");
      case "triage_rated": return "Rated " + d.rating + (d.reason ? ": " + d.reason : "");
      case "decision_made": return d.outcome.replace(/_/g, " ") + (d.level_of_need ? ", level " + d.level_of_need : "") + ": " + d.rationale;
      case "note_added": return d.text;
      default: return d.summary || d.reason || d.findings || d.request || d.notes || d.team || JSON.stringify(d);
    }
  }

  for (const tbody of [body, handovers]) {
    tbody.addEventListener("click", (e) => {
      const button = e.target.closest("button.open");
      if (button) openTimeline(button.dataset.id, button);
    });
  }
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail").addEventListener("close", () => { if (opener) opener.focus(); });
  for (const id of ["f-worker", "f-stage", "f-rating", "f-overdue"]) $(id).addEventListener("change", render);

  const large = $("large");
  function setLarge(on) {
    document.documentElement.classList.toggle("large", on);
    large.setAttribute("aria-pressed", String(on));
    try { localStorage.setItem("frontdoor-large", on ? "1" : "0"); } catch (_) { /* private mode */ }
  }
  large.addEventListener("click", () => setLarge(large.getAttribute("aria-pressed") !== "true"));
  try { setLarge(localStorage.getItem("frontdoor-large") === "1"); } catch (_) { /* private mode */ }

  // `/?contact=ID` (a link from a child's page): that contact's timeline, opened at once.
  const wanted = new URLSearchParams(location.search).get("contact");
  if (wanted) openTimeline(wanted, null);

  connect();
})();
