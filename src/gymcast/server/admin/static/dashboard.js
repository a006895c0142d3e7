// @ts-check
// The researcher's dashboard: polls the /admin/api/ JSON API and redraws its panels without reloading.

const POLL_MS = 1500;
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
/** @type {string | null} */
let selected = null;
let loggingOut = false;

/** To the login page, once: the poll's parallel requests all get a 401, and a second navigation would abort the first. */
function toLogin() {
  if (loggingOut) return;
  loggingOut = true;
  location.href = "/admin/login";
}

/** GET a JSON endpoint of the admin API. */
async function get(path) {
  const response = await fetch(`/admin/api/${path}`, { credentials: "same-origin" });
  if (response.status === 401) toLogin();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** POST to the admin API with this login's CSRF token. */
async function post(path, body = {}) {
  const response = await fetch(`/admin/${path}`, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
  });
  return response.json();
}

/** A table from a header row and rows of cells (text, or nodes). */
function table(head, rows, onRow = null) {
  const element = document.createElement("table");
  const header = element.insertRow();
  for (const name of head) header.appendChild(Object.assign(document.createElement("th"), { textContent: name }));
  rows.forEach((cells, index) => {
    const row = element.insertRow();
    for (const cell of cells) {
      const td = row.insertCell();
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell == null ? "–" : String(cell);
    }
    if (onRow) { row.className = "clickable"; row.onclick = () => onRow(index); }
  });
  return element;
}

function counts(values) {
  const box = document.createElement("div");
  for (const [name, value] of Object.entries(values)) {
    const item = Object.assign(document.createElement("span"), { className: "count" });
    item.dataset.state = name;
    item.innerHTML = `<b></b>`;
    /** @type {HTMLElement} */ (item.firstChild).textContent = String(value);
    item.append(name);
    box.appendChild(item);
  }
  return box;
}

function showOverview(data) {
  $("states").replaceChildren(counts({ ...data.states, ...Object.fromEntries(Object.entries(data.in_scene).map(([k, v]) => [`in ${k}`, v])) }));
  $("conditions").replaceChildren(table(["condition", "assigned", "active", "completed"],
    Object.entries(data.conditions).map(([name, c]) => [name, c.assigned, c.active, c.completed])));
  const most = Math.max(1, ...data.funnel.map((row) => row.reached));
  $("funnel").replaceChildren(table(["scene", "reached", "", "finished", "left here", "median s"],
    data.funnel.map((row) => {
      const bar = Object.assign(document.createElement("span"), { className: "bar" });
      bar.style.width = `${Math.round((100 * row.reached) / most)}px`;
      return [row.scene, row.reached, bar, row.finished, row.left_here, row.median_s];
    })));
  $("stats").replaceChildren(table(["", ""], [
    ["completion codes", data.codes.map((c) => `${c.code}${c.partial ? " (partial)" : ""}: ${c.count}`).join(", ") || "none"],
    ["page load p50 / p90 ms", `${data.boot_ms.p50 ?? "–"} / ${data.boot_ms.p90 ?? "–"} (${data.boot_ms.count} boots)`],
    ["browsers", Object.entries(data.browsers).map(([k, v]) => `${k} ${v}`).join(", ") || "–"],
    ["devices", Object.entries(data.devices).map(([k, v]) => `${k} ${v}`).join(", ") || "–"],
    ["page errors", `${data.errors.count}${data.errors.latest.length ? ": " + data.errors.latest.at(-1).message : ""}`],
  ]));
  const button = $("recruitment");
  button.textContent = data.recruitment_open ? "Close recruitment" : "Reopen recruitment";
  button.dataset.open = String(data.recruitment_open);
}

function showMultiplayer(data) {
  $("waiting").replaceChildren(data.waiting.length
    ? table(["waiting", "game", "for s", "rtt ms"], data.waiting.map((w) => [w.session_id.slice(0, 8), w.game, w.waited_s, w.rtt_ms]))
    : Object.assign(document.createElement("p"), { textContent: "Nobody is waiting for a partner." }));
  const end = (group) => {
    const button = Object.assign(document.createElement("button"), { textContent: "End group", type: "button" });
    button.onclick = async () => { await post(`api/groups/${group.group_id}/end`); refresh(); };
    return button;
  };
  $("groups").replaceChildren(table(["group", "members", "rtt ms", "delay", "desyncs", "dropouts", "fallbacks", ""],
    data.playing.map((g) => [g.group_id.slice(0, 8), Object.entries(g.members).map(([a, s]) => `${a}: ${String(s).slice(0, 8)}`).join(", "),
      Object.values(g.rtt_ms).join(", "), g.input_delay, g.desyncs, g.dropouts,
      Object.entries(g.fallbacks).filter(([, c]) => c !== "human").map(([a, c]) => `${a}: ${c}`).join(", "), end(g)])));
}

function showParticipants(data) {
  const list = data.participants;
  $("participants").replaceChildren(table(["session", "participant", "condition", "state", "scene", "URL parameters"],
    list.map((p) => {
      const state = Object.assign(document.createElement("span"), { className: `state-${p.state}`, textContent: p.state });
      return [p.session_id.slice(0, 8), p.participant_id, p.condition, state, p.scene,
        Object.entries(p.url_params).map(([k, v]) => `${k}=${v}`).join(" ")];
    }), (index) => { selected = list[index].session_id; refresh(); }));
  for (const [index, row] of [...$("participants").querySelectorAll("tr")].slice(1).entries()) {
    row.dataset.session = list[index].session_id;
    row.dataset.state = list[index].state;
    row.dataset.scene = list[index].scene ?? "";
  }
}

function showParticipant(p) {
  $("participant").hidden = false;
  $("participant-id").textContent = `${p.participant_id || p.session_id} (${p.state})`;
  const retake = Object.assign(document.createElement("button"), { textContent: "Let them take the study again", type: "button" });
  retake.onclick = async () => { await post(`api/participants/${p.session_id}/retake`); refresh(); };
  const downloads = document.createElement("p");
  downloads.append("Download: ");
  for (const fmt of ["csv", "parquet", "jsonl"]) {
    downloads.append(Object.assign(document.createElement("a"), { href: `/admin/api/download/${fmt}?session=${p.session_id}`, textContent: fmt.toUpperCase() }), " ");
  }
  $("participant-body").replaceChildren(
    table(["", ""], [["session", p.session_id], ["condition", p.condition], ["scene", p.scene],
      ["URL parameters", JSON.stringify(p.url_params)], ["browser", p.user_agent], ["group", p.group ? p.group.join(" as ") : null]]),
    Object.assign(document.createElement("h3"), { textContent: "Episodes" }),
    table(["scene", "episode", "steps", "returns", ""], p.episodes.map((e) => {
      const link = Object.assign(document.createElement("a"), { textContent: "replay", href: `/admin/replay?session=${p.session_id}&scene=${encodeURIComponent(e.scene)}&episode=${e.episode}&attempt=${e.attempt}` });
      return [e.scene, e.episode, e.steps, JSON.stringify(e.returns), link];
    })),
    Object.assign(document.createElement("h3"), { textContent: "Survey answers" }),
    table(["survey", "answers"], p.surveys.map((s) => [s.scene, JSON.stringify(s.answers)])),
    Object.assign(document.createElement("h3"), { textContent: "Timeline" }),
    table(["seq", "event", "scene", "received"], p.timeline.map((e) => [e.seq, e.type, e.scene, new Date(e.at * 1000).toLocaleTimeString()])),
    downloads, retake,
  );
}

function showActions(data) {
  $("action-log").replaceChildren(table(["when", "what", "who"],
    data.actions.slice(-20).reverse().map((a) => [new Date(a.at * 1000).toLocaleString(), a.type, a.actor])));
}

async function refresh() {
  try {
    const [overview, participants, multiplayer, actions] = await Promise.all(
      ["overview", "participants", "multiplayer", "actions"].map(get));
    showOverview(overview);
    showParticipants(participants);
    showMultiplayer(multiplayer);
    showActions(actions);
    if (selected) showParticipant(await get(`participants/${selected}`));
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1);
  } catch (error) {
    $("updated").textContent = `update failed: ${error.message}`;
  }
}

$("recruitment").onclick = async () => {
  await post("api/recruitment", { open: $("recruitment").dataset.open !== "true" });
  refresh();
};
$("logout").onclick = async () => { await post("logout"); toLogin(); };
const initial = new URLSearchParams(location.search).get("session");
if (initial) selected = initial;
refresh();
setInterval(refresh, POLL_MS);
