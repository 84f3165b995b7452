// Locking: on demand (the Lock button) and after the idle time chosen
// under Lock (kept in this window's storage; never by default, and not
// while the room view is shown at a gathering). Locked, the backend has
// dropped the engine and its keys; the page is loaded afresh, so nothing
// of a circle stays in it, and asks for the passphrase (even one kept in
// the keychain: that opens the app only when it starts).
import { backend } from "./bridge.js";
import { roomOn } from "./room.js";

const LOCK_AFTER = "circlekeep.lockAfter";
/** Set while locked in this window: a passphrase kept in the keychain
 * does not open the app again until it restarts. */
export const LOCKED = "circlekeep.locked";

let lastUsed = Date.now();
let locking = false;

/** Locks now, then shows the unlock screen. */
export async function lockNow(say) {
  if (locking) return;
  locking = true;
  try {
    await backend.lock();
    sessionStorage.setItem(LOCKED, "1");
    location.reload();
  } catch (e) {
    locking = false;
    say(e.message);
  }
}

/** Starts the Lock button, the idle-time choice and the idle watch;
 * `unlocked()` says whether there is anything to lock. */
export function startLocking({ say, unlocked }) {
  const button = document.getElementById("lock-now");
  const choice = document.getElementById("lock-after");
  button.addEventListener("click", () => lockNow(say));
  choice.value = localStorage.getItem(LOCK_AFTER) ?? "0";
  choice.addEventListener("change", () => {
    localStorage.setItem(LOCK_AFTER, choice.value);
    say(Number(choice.value) ? "The app locks when it is left unused for that long." : "The app locks only when you lock it.", "ok");
  });
  for (const used of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
    document.addEventListener(used, () => { lastUsed = Date.now(); }, { capture: true, passive: true });
  }
  setInterval(() => {
    const after = Number(localStorage.getItem(LOCK_AFTER) ?? 0);
    if (after > 0 && unlocked() && !roomOn() && Date.now() - lastUsed > after * 1000) lockNow(say);
  }, 1000);
}
