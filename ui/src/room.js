// The room view of a running gathering, for the laptop at the head of the
// table or a shared screen: the step, the presenter and the time left in
// type readable across a room, who has not had a turn, the next step. Also
// the keys that run the gathering and the optional chime when time is
// nearly up (the stage is said in words and announced to screen readers
// as well: nothing is conveyed by colour or sound alone).
import { el } from "./dom.js";

const ROOM = "circlekeep.room";
const CHIME = "circlekeep.chime";

/** Whether the room view is on (kept across redraws and restarts). */
export function roomOn() {
  return localStorage.getItem(ROOM) === "1";
}

/** Turns the room view on or off. */
export function setRoom(on) {
  localStorage.setItem(ROOM, on ? "1" : "0");
  document.body.classList.toggle("room", on);
}

/** The room view's toggle, the chime option and the keys, for the panel's top. */
export function roomControls(redraw) {
  document.body.classList.toggle("room", roomOn());
  const chime = el("input", { type: "checkbox", id: "chime", checked: localStorage.getItem(CHIME) === "1",
    onchange: (e) => localStorage.setItem(CHIME, e.target.checked ? "1" : "0") });
  return el("div", { class: "inline room-controls" },
    el("button", { id: "room-view", class: "secondary", "aria-pressed": roomOn() ? "true" : "false",
      onclick: () => { setRoom(!roomOn()); redraw(); } }, roomOn() ? "Leave room view" : "Room view"),
    el("label", { class: "inline" }, chime, "Chime when time is nearly up"),
    el("span", { id: "keys", class: "meta" }, "Keys: → next step, ← previous step, T start or end a turn, P pause or resume it, R room view"));
}

/** What the room sees: this step, the next, and who has not had a turn. */
export function roomSummary(state) {
  const at = state.agenda.findIndex((s) => s.current);
  const step = state.agenda[at];
  const next = state.agenda[at + 1];
  return el("div", { id: "room-summary" },
    el("div", { id: "room-step" }, step ? step.title : "No agenda"),
    next ? el("div", { class: "meta", id: "room-next" }, `Next: ${next.title}`) : null,
    el("div", { id: "room-waiting" }, state.waiting.length ? `Not yet had a turn: ${state.waiting.map((w) => w.name).join(", ")}` : "Everyone here has had a turn."));
}

/** The actions of the run panel shown; one listener serves them all, so a
 * key is neither lost while a panel is redrawn nor run twice while a new
 * one replaces the old. */
let bound = null;
let listening = false;

function onKey(event) {
  const target = event.target;
  const typing = target instanceof Element && target.closest("input, textarea, select, [contenteditable], dialog, [role=tablist]");
  if (!bound || typing || document.querySelector("dialog[open]") || event.ctrlKey || event.metaKey || event.altKey) return;
  const keys = { ArrowRight: bound.next, ArrowLeft: bound.previous, t: bound.turn, T: bound.turn,
    p: bound.pause, P: bound.pause, r: bound.room, R: bound.room };
  const action = keys[event.key];
  if (!action) return;
  event.preventDefault();
  action();
}

/** Runs `actions` on their keys while no field or dialog has them (in
 * place of any bound before); returns what lets them go. */
export function bindKeys(actions) {
  if (!listening) {
    document.addEventListener("keydown", onKey);
    listening = true;
  }
  bound = actions;
  return () => {
    if (bound === actions) bound = null;
  };
}

/** A short tone, if the member asked for one. */
export function chime() {
  if (localStorage.getItem(CHIME) !== "1" || !window.AudioContext) return;
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 660;
  gain.gain.setValueAtTime(0.2, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.6);
  tone.onended = () => audio.close();
}
