// Live stage changes on the leads page, and the CSRF header on htmx requests.
// Text from the server is set with textContent, never parsed as HTML.
"use strict";

document.addEventListener("htmx:configRequest", (event) => {
  const token = document.body.dataset.csrf;
  if (token) event.detail.headers["X-CSRF-Token"] = token;
});

function watchStageChanges() {
  const table = document.getElementById("leads");
  if (!table || !window.EventSource) return;
  const source = new EventSource("/dashboard/live/stages?after=" + encodeURIComponent(table.dataset.liveAfter));
  let elsewhere = 0;
  source.addEventListener("stage", (message) => {
    const change = JSON.parse(message.data);
    const row = document.querySelector('#leads tr[data-lead-id="' + Number(change.lead_id) + '"]');
    if (row) {
      row.querySelector(".stage .badge").textContent = change.new_stage || "–";
      row.classList.add("changed");
      announce("Lead " + change.lead_id + " moved from " + (change.old_stage || "none") + " to " + change.new_stage + ".");
    } else {
      elsewhere += 1;
      announce(elsewhere + " lead(s) on other pages changed stage; reload to see the new order.");
    }
  });
}

function announce(text) {
  const notice = document.getElementById("live-notice");
  if (!notice) return;
  notice.textContent = text;
  notice.hidden = false;
}

document.addEventListener("DOMContentLoaded", watchStageChanges);
