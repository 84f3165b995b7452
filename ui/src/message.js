// What the app says after an action: next to what it is about (the form
// or button just used, or the element given), else at the foot of the
// page; an error unless said to be fine. When the page around it is
// redrawn, the message follows its form (found again by id) or goes back
// to the foot, keeping its text.

/** How long after a click or submit a message is still about it. */
const RECENT_MS = 60_000;

let message = null;
let foot = null;
let anchorId = null;
let last = null;

/** Finds the message line and starts following what the user uses. */
export function startMessages() {
  message = document.getElementById("message");
  foot = { parent: message.parentNode, before: message.nextSibling };
  const used = (element) => { last = { element, at: Date.now() }; };
  document.addEventListener("submit", (e) => used(e.target), true);
  document.addEventListener("click", (e) => {
    const button = e.target instanceof Element ? e.target.closest("button") : null;
    // A confirmation's buttons go with their dialog: the message is about
    // what asked.
    if (button && !button.closest("dialog")) used(button.form ?? button);
  }, true);
  new MutationObserver(() => {
    if (!message.isConnected) place(anchorId ? document.getElementById(anchorId) : null);
  }).observe(document.body, { childList: true, subtree: true });
}

/** Says `text` ("" clears it) next to `near`, or next to what was just used. */
export function say(text, kind = "error", near = null) {
  message.textContent = text;
  message.dataset.kind = kind;
  if (!text) return;
  const recent = last && Date.now() - last.at < RECENT_MS ? last.element : null;
  place(found(near ?? recent));
}

/** `element` if still in the page, else the one that replaced it (same id). */
function found(element) {
  if (!element) return null;
  if (element.isConnected) return element;
  return element.id ? document.getElementById(element.id) : null;
}

function place(anchor) {
  // Not beside what is hidden (a closed panel, a screen left behind).
  const shown = anchor && !anchor.closest("dialog") && anchor.getClientRects().length > 0;
  anchorId = shown ? anchor.id || null : null;
  if (shown) anchor.after(message);
  else foot.parent.insertBefore(message, foot.before?.isConnected ? foot.before : null);
}
