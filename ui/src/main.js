// The app shell: first run, unlock, then the list of circles beside the
// open circle, with the sync state in the header.
import { backend } from "./bridge.js";
import { el, form, dateTimeText, dayText } from "./dom.js";
import { CircleView } from "./circle.js";
import { DevicesPanel } from "./devices.js";
import { say, startMessages } from "./message.js";
import { LOCKED, startLocking } from "./lock.js";

const $ = (id) => document.getElementById(id);

function show(section) {
  for (const id of ["setup", "unlock", "home"]) $(id).hidden = id !== section;
  $("lock-now").hidden = section !== "home";
}

startMessages();
startLocking({ say, unlocked: () => !$("home").hidden });

const circleView = new CircleView($("circle-view"), say);
new DevicesPanel(say);

async function showCircles() {
  const circles = await backend.circles();
  const list = $("circles");
  list.replaceChildren(
    ...circles.map((c) =>
      el("li", {}, el("button", { class: c.id === circleView.id ? "circle current" : "circle", "data-circle": c.id, onclick: () => openCircle(c.id) },
        c.name ?? `Circle ${c.short} (waiting for its documents)`, el("span", { class: "meta" }, c.invitation ? " invitation" : ` ${c.members} members`))),
    ),
  );
  if (circles.length === 0) list.append(el("li", {}, "No circles yet: found one, or join with a ticket."));
  return circles;
}

async function openCircle(id) {
  await circleView.open(id);
  await showCircles();
}

async function showHome() {
  const card = await backend.memberCard();
  $("card").textContent = card.card || "This computer was linked by an older version and has no card: remove it from your devices and link it again.";
  $("fingerprint").textContent = card.fingerprint || "—";
  const circles = await showCircles();
  show("home");
  if (circles.length > 0) await openCircle(circles[0].id);
  else $("circle-view").replaceChildren(el("p", {}, "Found a circle, or paste an invite ticket from a member to join theirs."));
  backend.onCircleChanged(async (id) => {
    await showCircles();
    if (!id || id === circleView.id) await circleView.refresh();
    showReminders();
  });
  setInterval(showSync, 2000);
  setInterval(showReminders, 60_000);
  showSync();
  showReminders();
}

/** How far ahead a gathering is announced. */
const REMINDER_HOURS = 48;

/** Gatherings coming up soon, and circles that stopped meeting. */
async function showReminders() {
  try {
    const reminders = await backend.reminders(REMINDER_HOURS);
    $("reminders").replaceChildren(...reminders.map((r) =>
      el("li", { class: r.kind }, el("button", { class: "link", onclick: () => openCircle(r.circle) }, reminderText(r)))));
  } catch {
    // Reminders are a courtesy: a failed read leaves the last ones shown.
  }
}

/** A reminder in this computer's locale and time zone (the backend's own
 * text, for notifications, says the circle's). */
function reminderText(r) {
  const g = r.gathering;
  if (r.kind === "upcoming" && g) {
    const roles = r.mine.length ? ` You are ${r.mine.join(" and ")}.` : "";
    return `${r.circle_name} meets ${dateTimeText(g.starts)}${g.place ? ` at ${g.place}` : ""}.${roles}`;
  }
  if (r.kind === "contract" && g) {
    const which = r.due === 1 ? "your contract" : `your ${r.due} contracts`;
    return `${r.circle_name}: report back on ${which} at the gathering of ${dateTimeText(g.starts)}.`;
  }
  if (r.kind === "series" && r.on) return `${r.circle_name} reports back on its short series on ${dayText(r.on)}: open that gathering as a series report.`;
  return r.text;
}

/** The last sync state shown, so the members tab redraws only on change. */
let shownSync = "";

async function showSync() {
  try {
    const { online, starting, problem, status } = await backend.syncStatus();
    const peers = status.circles.flatMap((c) => c.members);
    const connected = new Set(peers.filter((m) => m.connected).map((m) => m.member)).size;
    $("sync-state").textContent = online
      ? `Online · ${connected} member${connected === 1 ? "" : "s"} connected`
      : starting ? "Starting sync…" : `Offline (${problem})`;
    $("sync-state").dataset.connected = String(connected);
    // The members tab shows per-member sync state: redraw it when that changes.
    const state = JSON.stringify(status.circles);
    if (circleView.tab === "members" && state !== shownSync) await circleView.refresh();
    shownSync = state;
  } catch {
    $("sync-state").textContent = "";
  }
}

$("new-circle-slot").append(
  form(
    { id: "new-circle-form" },
    [
      el("input", { id: "new-circle-name", name: "name", placeholder: "Circle name", required: true, maxlength: 200 }),
      el("select", { name: "history", "aria-label": "Newcomers see" },
        el("option", { value: "since-joining" }, "Newcomers see notes from when they join"),
        el("option", { value: "newcomers-see-history" }, "Newcomers see all past notes")),
    ],
    "Found circle",
    async (f) => {
      const id = await backend.createCircle(f.name.value, f.history.value);
      f.reset();
      await openCircle(id);
    },
    say,
  ),
  form(
    { id: "join-form" },
    [el("textarea", { id: "join-ticket", name: "ticket", rows: 2, placeholder: "Invite ticket", required: true })],
    "Join",
    async (f) => {
      const id = await joinPatiently(f.ticket.value);
      f.reset();
      await openCircle(id);
    },
    say,
  ),
);

/** Seconds between attempts to reach an inviter whose device is offline. */
const JOIN_RETRY_SECS = 10;

/**
 * Joins with `ticket`; while the inviter's device cannot be reached, tries
 * again every few seconds (the ticket is not used up by a failed attempt)
 * until it works, is refused, or the member stops waiting.
 */
async function joinPatiently(ticket) {
  const giveUp = () => new Error("Stopped waiting. The ticket still works until it expires.");
  let stopped = false;
  let wake = () => {};
  const stop = el("button", { id: "stop-joining", type: "button", class: "secondary", onclick: () => { stopped = true; wake(); } }, "Stop waiting");
  try {
    for (let attempt = 1; ; attempt++) {
      say(attempt === 1
        ? "Joining… the member who made the ticket has to be online to let you in."
        : `Waiting for the inviter's device to come online (attempt ${attempt})…`);
      try {
        return await backend.join(ticket);
      } catch (e) {
        if (e.code !== "unreachable") throw e;
      }
      if (stopped) throw giveUp();
      if (!stop.isConnected) $("join-form").after(stop);
      say(`The inviter's device cannot be reached yet; trying again in ${JOIN_RETRY_SECS} s. The ticket keeps until it expires.`);
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, JOIN_RETRY_SECS * 1000); });
      if (stopped) throw giveUp();
    }
  } finally {
    stop.remove();
  }
}

/** Larger than any backup, key file or sync file a circle makes (a
 * four-year circle's sync file is about 10 MB): refused before it is read. */
const MAX_PICKED_BYTES = 256 * 1024 * 1024;

/** The file picked in `input`, as base64 (the engine checks what it is). */
function picked(input) {
  return new Promise((resolve, reject) => {
    const file = input.files?.[0];
    if (!file) return reject(new Error("Choose a file first."));
    if (file.size > MAX_PICKED_BYTES) return reject(new Error(`${file.name} is too large to be a Circlekeep file.`));
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new Error(`Cannot read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}

function restored(report) {
  return `Restored ${report.circles} circle${report.circles === 1 ? "" : "s"} and ${report.journal} journal entr${report.journal === 1 ? "y" : "ies"}.`;
}

$("restore-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Restoring…");
  try {
    const report = await backend.restore(await picked($("restore-backup")), await picked($("restore-key")), $("restore-pass").value);
    await showHome();
    say(restored(report), "ok");
  } catch (e) {
    say(e.code === "wrong_passphrase" ? "That passphrase does not open this key file." : e.message);
  }
});

$("restore-here-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Restoring…");
  try {
    const report = await backend.restore(await picked($("restore-here")));
    event.target.reset();
    await showCircles();
    if (circleView.id) await circleView.refresh();
    say(restored(report), "ok");
  } catch (e) {
    say(e.message);
  }
});

/** Shows the network settings in use and saved. */
async function showNetwork(settings) {
  const n = settings ?? (await backend.networkSettings());
  const f = $("network-form");
  const preset = ["default", "disabled"].includes(n.saved_relay);
  f.relay.value = preset ? n.saved_relay : "custom";
  f.url.value = preset ? "" : n.saved_relay;
  f.localDiscovery.checked = n.saved_local_discovery;
  const same = n.relay === n.saved_relay && n.local_discovery === n.saved_local_discovery;
  let note = "";
  if (n.problem) note = ` Offline: ${n.problem}`;
  else if (!same && n.overridden) note = " Saved settings apply when Circlekeep starts without its --relay and --local-discovery options.";
  $("network-state").textContent = `In use: relay ${n.relay}, local network ${n.local_discovery ? "on" : "off"}.${note}`;
}

/** What opening a sync file did, in words. */
function imported(report) {
  const fresh = report.ops_accepted + report.entries_accepted;
  const refused = report.rejected.length;
  return `Sync file opened: ${fresh} new record${fresh === 1 ? "" : "s"}, ${report.duplicates} already here` +
    (refused ? `, ${refused} refused (see the circle's Members tab).` : ".");
}

$("import-bundle-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Opening the sync file…");
  try {
    const report = await backend.importBundle(await picked($("import-bundle")));
    event.target.reset();
    if (report.joined || !circleView.id) await openCircle(report.circle);
    else {
      await showCircles();
      if (report.circle === circleView.id) await circleView.refresh();
    }
    say(imported(report));
  } catch (e) {
    say(e.message);
  }
});

$("network").addEventListener("toggle", () => {
  if ($("network").open) showNetwork().catch((e) => say(e.message));
});

$("network-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target;
  const relay = f.relay.value === "custom" ? f.url.value.trim() : f.relay.value;
  try {
    const n = await backend.setNetwork(relay, f.localDiscovery.checked);
    await showNetwork(n);
    const inUse = n.relay === n.saved_relay && n.local_discovery === n.saved_local_discovery && !n.problem;
    say(inUse ? "Network settings saved and in use." : "Network settings saved.");
  } catch (e) {
    say(e.message);
  }
});

$("save-key").addEventListener("click", async () => {
  try {
    const path = await backend.saveKeyFile();
    say(path ? `Key file saved to ${path}` : "");
  } catch (e) {
    say(e.message);
  }
});

$("passphrase-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target;
  if (f.next.value !== f.next2.value) return say("The new passphrases do not match.");
  say("Changing the passphrase…");
  try {
    await backend.changePassphrase(f.current.value, f.next.value);
    f.reset();
    say("Passphrase changed. Key files you saved before still open with the old one.", "ok");
  } catch (e) {
    say(e.code === "wrong_passphrase" ? "That is not your current passphrase." : e.message);
  }
});

$("copy-diagnostics").addEventListener("click", async () => {
  try {
    const text = await backend.diagnostics();
    $("diagnostics").textContent = text;
    $("diagnostics").hidden = false;
    await navigator.clipboard.writeText(text).then(
      () => say("Diagnostic info copied.", "ok"),
      () => say("Select the diagnostic info below and copy it.", "ok"),
    );
  } catch (e) {
    say(e.message);
  }
});

$("backup").addEventListener("click", async () => {
  try {
    const path = await backend.backup();
    say(path ? `Backup saved to ${path}` : "");
  } catch (e) {
    say(e.message);
  }
});

/** A circlekeep:// link waiting for the keys to be created or unlocked. */
let pendingLink = null;

/**
 * Takes a circlekeep:// link (a click on an invite, a scanned code): an
 * invite fills the join form, a device link the form that links this
 * computer. The backend checks the ticket inside when it is used.
 */
function openLink(url) {
  pendingLink = null;
  const home = !$("home").hidden;
  if (url.startsWith("circlekeep://invite1/")) {
    if (!home) {
      pendingLink = url;
      return say("An invite link: create your keys (or unlock) first, then it waits in Join.", "ok");
    }
    $("join-ticket").value = url;
    $("join-ticket").focus();
    say("An invite link: press Join to join the circle.", "ok", $("join-ticket").form ?? $("join-ticket"));
  } else if (url.startsWith("circlekeep://device1/")) {
    if (home || !$("unlock").hidden) return say("That link links a new computer: open it on the computer you are adding.");
    $("link-ticket").value = url;
    $("link-ticket").closest("details")?.setAttribute("open", "");
    say("A device link: give this computer a name and a passphrase to link it.", "ok", $("link-form"));
  } else {
    say("That link is not a Circlekeep invite or device link.");
  }
}

/** Shows the home screen, then a link that waited for it. */
async function showHomeThenLink() {
  await showHome();
  if (pendingLink) openLink(pendingLink);
}

async function start() {
  const status = await backend.status();
  $("where").textContent = `Data folder: ${status.home}`;
  await backend.onOpenLink(openLink);
  if (status.unlocked) await showHome();
  else if (status.kept && !sessionStorage.getItem(LOCKED)) await unlockKept();
  else show(status.initialized ? "unlock" : "setup");
  $("kept-passphrase").hidden = !status.kept;
  const opened = await backend.openedLink();
  if (opened) openLink(opened);
}

$("link-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target;
  if (f.pass.value !== f.pass2.value) return say("The passphrases do not match.");
  say("Linking this computer…");
  try {
    const linked = await backend.joinAsDevice(f.ticket.value.trim(), f.name.value, f.pass.value);
    await showHome();
    say(`This computer is linked, in ${linked.circles} circle${linked.circles === 1 ? "" : "s"}. The other device shows the code ${linked.code}.`);
  } catch (e) {
    say(e.message);
  }
});

$("setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if ($("setup-pass").value !== $("setup-pass2").value) return say("The passphrases do not match.");
  say("Creating your keys…");
  try {
    await backend.init($("setup-name").value, $("setup-pass").value);
    say("");
    await showHomeThenLink();
  } catch (e) {
    say(e.message);
  }
});

/** Opens with the passphrase the keychain keeps; if it no longer opens
 * (changed elsewhere), asks for it. */
async function unlockKept() {
  try {
    await backend.unlockKept();
    await showHome();
  } catch (e) {
    show("unlock");
    say(e.code === "wrong_passphrase" ? "The passphrase kept in the keychain no longer opens this identity: type it." : e.message);
  }
}

$("forget-passphrase").addEventListener("click", async () => {
  try {
    await backend.forgetPassphrase();
    $("kept-passphrase").hidden = true;
    say("Forgotten: the app asks for the passphrase when it opens.", "ok");
  } catch (e) {
    say(e.message);
  }
});

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Unlocking…");
  try {
    const kept = await backend.unlock($("unlock-pass").value, $("unlock-remember").checked);
    sessionStorage.removeItem(LOCKED);
    if (kept) $("kept-passphrase").hidden = false;
    say("");
    await showHomeThenLink();
  } catch (e) {
    say(e.code === "wrong_passphrase" ? "That passphrase does not open this identity." : e.message);
  }
});

start().catch((e) => say(e.message));
