// The one adapter between the UI and the Rust engine: every call to the
// backend goes through here (and browser tests mock exactly this).
import { invoke } from "@tauri-apps/api/core";

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
  unlock: (passphrase) => call("unlock", { passphrase }),
  memberCard: () => call("member_card"),
  circles: () => call("circles"),
};
