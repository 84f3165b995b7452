// The one adapter between the UI and the Rust engine: every call to the
// backend goes through here (and browser tests mock exactly this).
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";

/** Errors from the backend carry a stable `code` to switch on. */
export class BackendError extends Error {
  constructor({ code, message }) {
    super(message);
    this.code = code;
  }
}

async function call(command, args) {
  try {
    return await invoke(command, args);
  } catch (e) {
    throw new BackendError(typeof e === "object" && e ? e : { code: "error", message: String(e) });
  }
}

export const backend = {
  status: () => call("status"),
  init: (name, passphrase) => call("init", { name, passphrase }),
  unlock: (passphrase, remember) => call("unlock", { passphrase, remember }),
  unlockKept: () => call("unlock_kept"),
  forgetPassphrase: () => call("forget_passphrase"),
  lock: () => call("lock"),
  /** Seals the key file again under `next` once `current` opens it. */
  changePassphrase: (current, next) => call("change_passphrase", { current, new: next }),
  memberCard: () => call("member_card"),
  circles: () => call("circles"),
  createCircle: (name, history) => call("create_circle", { name, history }),
  circle: (circle) => call("circle", { circle }),
  practice: (circle) => call("practice", { circle }),
  acceptCharter: (circle) => call("accept_charter", { circle }),
  editCharter: (circle, text) => call("edit_charter", { circle, text }),
  leaveCircle: (circle) => call("leave_circle", { circle }),
  acceptCircle: (circle) => call("accept_circle", { circle }),
  /** What was refused from this circle's peers and bundles, grouped by reason and claimed author, most recent first. */
  rejections: (circle) => call("rejections", { circle }),
  /** Purpose, rhythm `{ everyWeeks, weekday, time, minutes, timeZone, first }` (or null) and guide (member id, "" for none, null unchanged). */
  setupCircle: (circle, purpose, rhythm, guide, place, roles) => call("setup_circle", { circle, purpose, rhythm, guide, place, roles }),
  search: (circle, text, member, turnOf, from, to) => call("search", { circle, text, member, turnOf, from, to }),
  pulse: (circle, gathering) => call("pulse", { circle, gathering }),
  answerPulse: (circle, gathering, answers) => call("answer_pulse", { circle, gathering, answers }),
  retrospective: (circle, from, to) => call("retrospective", { circle, from, to }),
  exportRetro: (circle, from, to) => call("export_retro", { circle, from, to }),
  reschedule: (circle, date, to, time, place) => call("reschedule", { circle, date, to, time, place }),
  cancelGathering: (circle, date, cancel) => call("cancel_gathering", { circle, date, cancel }),
  /** Says `member` (id; default: me) will not come to the gathering planned for `date`, or will after all. */
  setAbsent: (circle, date, absent, member) => call("set_absent", { circle, date, absent, member: member ?? null }),
  swapRole: (circle, role, date, other) => call("swap_role", { circle, role, date, other }),
  /** Gatherings of any circle starting within `hours`, and nudges for circles that stopped meeting. */
  reminders: (hours) => call("reminders", { hours }),
  addMember: (circle, card) => call("add_member", { circle, card }),
  removeMember: (circle, member) => call("remove_member", { circle, member }),
  /** Enrols a keeper (an always-on peer that stores and forwards sealed records) by its ticket. */
  addKeeper: (circle, ticket) => call("add_keeper", { circle, ticket }),
  removeKeeper: (circle, keeper) => call("remove_keeper", { circle, keeper }),
  openGathering: (circle, date, template, reportOn) => call("open_gathering", { circle, date, template, reportOn }),
  notes: (circle, gathering) => call("notes", { circle, gathering }),
  addNote: (circle, gathering, text) => call("add_note", { circle, gathering, text }),
  /** Splices typed into a note shown at `version`; resolves to the next version. */
  editNote: (circle, gathering, note, edits, version) =>
    call("edit_note", { circle, gathering, note, edits, version }),
  gatheringState: (circle, gathering) => call("gathering_state", { circle, gathering }),
  /** What the steps bring: ground rules, contracts to report back on and made here, the next gathering. */
  stepBrief: (circle, gathering) => call("step_brief", { circle, gathering }),
  setStep: (circle, gathering, index) => call("set_step", { circle, gathering, index }),
  addStep: (circle, gathering, title, minutes) => call("add_step", { circle, gathering, title, minutes }),
  removeStep: (circle, gathering, index) => call("remove_step", { circle, gathering, index }),
  setAttendance: (circle, gathering, member, present) => call("set_attendance", { circle, gathering, member, present }),
  requestTime: (circle, gathering, member, minutes) => call("request_time", { circle, gathering, member, minutes }),
  startTurn: (circle, gathering, member, minutes, feedbackWanted, offRecord) =>
    call("start_turn", { circle, gathering, member, minutes, feedbackWanted, offRecord }),
  startSpeaking: (circle, gathering, member, offRecord) =>
    call("start_speaking", { circle, gathering, member, offRecord }),
  endTurn: (circle, gathering) => call("end_turn", { circle, gathering }),
  /** Stops (`pause` true) or restarts the running turn's clock. */
  pauseTurn: (circle, gathering, pause) => call("pause_turn", { circle, gathering, pause }),
  addGoal: (circle, text) => call("add_goal", { circle, text }),
  goalProgress: (circle, goal, text) => call("goal_progress", { circle, goal, text }),
  goalMilestone: (circle, goal, text) => call("goal_milestone", { circle, goal, text }),
  reachMilestone: (circle, goal, milestone) => call("reach_milestone", { circle, goal, milestone }),
  goalStatus: (circle, goal, status) => call("goal_status", { circle, goal, status }),
  /** A contract: mine, or `member`'s (id) recorded for them, made at `gathering` (id) if given. */
  addContract: (circle, text, goal, member = null, gathering = null) => call("add_contract", { circle, text, goal, member, gathering }),
  reportContract: (circle, contract, outcome, reflection) =>
    call("report_contract", { circle, contract, outcome, reflection }),
  contractHistory: (circle) => call("contract_history", { circle }),
  /** My journal entries (about `circle` only, if given): sealed to me, never synced. */
  journal: (circle) => call("journal", { circle }),
  journalAdd: (text, circle) => call("journal_add", { text, circle }),
  /** Exports ask where to save (a native dialog); each resolves to the path written, or null if cancelled. */
  exportMarkdown: (circle, gathering) => call("export_markdown", { circle, gathering }),
  exportIcs: (circle) => call("export_ics", { circle }),
  backup: () => call("backup"),
  saveKeyFile: () => call("save_key_file"),
  /** Files as base64; on a device with no identity yet, with the saved key file and its passphrase. */
  restore: (backup, keyFile, passphrase) => call("restore", { backup, keyFile, passphrase }),
  syncStatus: () => call("sync_status"),
  /** `{ ticket, link, qr, qr_size }`: a one-time invite, as a ticket and a circlekeep:// link, and the link's QR code. */
  invite: (circle) => call("invite", { circle }),
  /** Diagnostic info for a bug report, as text: no content, names, ids or keys. */
  diagnostics: () => call("diagnostics"),
  /** The circlekeep:// link the app was started with, if any (once). */
  openedLink: () => call("opened_link"),
  /** Calls `handler(url)` for each circlekeep:// link opened while the app runs. */
  onOpenLink: (handler) => listen("open-link", (event) => handler(event.payload)),
  /** Saves a sync file of the circle: everything, or what `member` (id) lacks; returns where (null if cancelled). */
  exportBundle: (circle, member) => call("export_bundle", { circle, member: member || null }),
  /** Opens a sync file (base64); returns what it brought. */
  importBundle: (bundle) => call("import_bundle", { bundle }),
  join: (ticket) => call("join", { ticket }),
  /** `{ ticket, link, qr, qr_size, expires_at }`: a one-time ticket linking a new device of yours, its circlekeep:// link, and the link's QR code. */
  addDevice: () => call("add_device"),
  /** `{ device, code }` once the ticket linked a device, else null. */
  deviceLinked: (ticket) => call("device_linked", { ticket }),
  /** Your devices: `[{ id, short, this, circles }]`. */
  devices: () => call("devices"),
  /** On a computer with no identity: its keys as a device of the ticket's member, linked; `{ code, circles }`. */
  joinAsDevice: (ticket, name, passphrase) => call("join_as_device", { ticket, name, passphrase }),
  /** Retires one of your other devices in every circle. */
  retireDevice: (device) => call("retire_device", { device }),
  /** `{ relay, local_discovery, saved_relay, saved_local_discovery }`. */
  networkSettings: () => call("network_settings"),
  /** Saves relay ("default", "disabled" or a URL) and local discovery, and restarts sync with them. */
  setNetwork: (relay, localDiscovery) => call("set_network", { relay, localDiscovery }),
  /** Calls `handler(circleHexId)` whenever a circle changed ("" = maybe any). */
  onCircleChanged: (handler) => listen("circle-changed", (event) => handler(event.payload)),
};
