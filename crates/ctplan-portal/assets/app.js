// The portal's page: log in, the team's cases, uploads (a file, a zip, or a dropped folder),
// job progress, and the viewer (viewer.js). Talks to the API like any other client.
import { follow, openCase } from "/assets/viewer.js";

let csrf = "";
let session = null;
let dropped = null; // files of a dropped folder, when one was dropped
const following = new Set(); // jobs whose event stream is open
const $ = (id) => document.getElementById(id);

export function say(text) { $("message").textContent = text || ""; }

/** One API request; JSON back (or the raw response with `raw`), an Error with the server's words. */
export async function api(method, path, body, type, raw) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (type) headers["Content-Type"] = type;
  const resp = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (raw && resp.ok) return resp;
  const ct = resp.headers.get("Content-Type") || "";
  const data = ct.startsWith("application/json") ? await resp.json() : null;
  if (!resp.ok) throw new Error((data && data.error) || resp.status + " " + resp.statusText);
  return data;
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  row.appendChild(td);
  return td;
}

async function refresh() {
  const cases = await api("GET", "/api/cases");
  const body = $("cases");
  body.replaceChildren();
  for (const detail of cases) {
    const c = detail.case;
    const job = detail.job;
    const row = document.createElement("tr");
    row.dataset.case = c.id;
    row.dataset.name = c.name;
    row.dataset.state = job ? job.state : "none";
    cell(row, c.name + (c.kind === "cranio" ? " (cranial)" : ""));
    const status = document.createElement("span");
    status.textContent = job ? job.state + (job.stage && job.state === "running" ? ": " + job.stage : "") : c.status;
    if (job && job.error) status.textContent += ": " + job.error;
    const st = cell(row, status);
    if (job && (job.state === "running" || job.state === "queued")) {
      const bar = document.createElement("progress");
      bar.max = 1; bar.value = job.progress || 0;
      st.append(" ", bar);
      // Progress as the worker reports it, by the job's event stream; the list is read again
      // when it ends.
      if (!following.has(job.id)) {
        following.add(job.id);
        follow(job.id, (j) => {
          const row = document.querySelector(`tr[data-case="${CSS.escape(c.id)}"]`);
          const b = row && row.querySelector("progress");
          if (b) { b.value = j.progress || 0; b.title = j.stage || ""; }
        }).catch(() => {}).finally(() => { following.delete(job.id); refresh().catch(() => {}); });
      }
    }
    const open = document.createElement("button");
    open.textContent = "Open";
    open.className = "open";
    open.disabled = !(job && job.state === "done");
    open.addEventListener("click", () => show(detail));
    cell(row, open);
    body.appendChild(row);
  }
}

async function show(detail) {
  $("list").classList.add("hidden");
  $("viewer").classList.remove("hidden");
  try {
    await openCase({ api, say, canvas: $("canvas"), panel: $("panel"), hover: $("hover"), detail, session });
  } catch (e) { say(e.message); }
}

$("close-viewer").addEventListener("click", () => {
  $("viewer").classList.add("hidden");
  $("list").classList.remove("hidden");
  refresh().catch((e) => say(e.message));
});

async function start() {
  try {
    session = await api("GET", "/api/session");
    csrf = session.csrf;
    $("who").textContent = session.user.name + " (" + session.user.role + ")";
    const team = $("team");
    team.replaceChildren();
    for (const t of session.teams) {
      const o = document.createElement("option");
      o.value = t.id; o.textContent = t.name;
      team.appendChild(o);
    }
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("logout").classList.remove("hidden");
    $("upload").classList.toggle("hidden", session.user.role !== "surgeon");
    await refresh();
  } catch (e) {
    session = null;
    $("who").textContent = "";
    $("login").classList.remove("hidden");
    $("app").classList.add("hidden");
    $("logout").classList.add("hidden");
  }
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/login",
      JSON.stringify({ name: $("name").value, password: $("password").value }), "application/json");
    $("password").value = "";
    say("");
    await start();
  } catch (e) { say(e.message); }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { say(e.message); }
  csrf = "";
  await start();
});

// A dropped folder: its files, read through the entries API (each file's own name stays in
// the browser; the server numbers them).
async function filesOf(entry, out) {
  if (entry.isFile) {
    out.push(await new Promise((ok, no) => entry.file(ok, no)));
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, no) => reader.readEntries(ok, no));
      if (!batch.length) break;
      for (const e of batch) await filesOf(e, out);
    }
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  const out = [];
  for (const item of ev.dataTransfer.items) {
    const entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
    if (entry) await filesOf(entry, out);
  }
  dropped = out;
  $("upload-state").textContent = out.length + " file(s) ready";
});

$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const files = dropped && dropped.length ? dropped : Array.from($("file").files);
  if (!files.length) { say("choose or drop a file first"); return; }
  const q = { team: $("team").value, name: $("case-name").value, kind: $("kind").value };
  $("upload-state").textContent = "uploading…";
  try {
    if (files.length === 1) {
      // Only the extension travels: a query string lands in proxy logs, and a file's name can
      // be the patient's.
      const lower = files[0].name.toLowerCase();
      const ext = [".nii.gz", ".nrrd", ".nii", ".mha", ".zip", ".dcm"].find((e) => lower.endsWith(e)) || "";
      q.filename = "upload" + ext;
      await api("POST", "/api/cases?" + new URLSearchParams(q), files[0], "application/octet-stream");
    } else {
      // A folder: one multipart/form-data request, one part per file, each named by its
      // number only (the server never reads a part's file name; this keeps it off the wire).
      const form = new FormData();
      files.forEach((f, i) => form.append("files", f, String(i).padStart(8, "0") + ".dcm"));
      await api("POST", "/api/cases?" + new URLSearchParams(q), form);
    }
    $("upload-state").textContent = "uploaded";
    dropped = null;
    say("");
    await refresh();
  } catch (e) { $("upload-state").textContent = ""; say(e.message); }
});

// The list is read again every 10 s (new cases of the team); running jobs report by their
// event streams in between.
setInterval(() => {
  if (csrf && !$("list").classList.contains("hidden")) refresh().catch(() => {});
}, 10000);
start();
