import { backend } from "./bridge.js";

const $ = (id) => document.getElementById(id);

function show(section) {
  for (const id of ["setup", "unlock", "home"]) $(id).hidden = id !== section;
}

function say(text) {
  $("message").textContent = text;
}

async function showHome() {
  const [card, circles] = await Promise.all([backend.memberCard(), backend.circles()]);
  $("card").textContent = card.card;
  $("fingerprint").textContent = card.fingerprint;
  const list = $("circles");
  list.replaceChildren();
  if (circles.length === 0) {
    const li = document.createElement("li");
    li.textContent = "No circles yet. Create one with `circlekeep circle create NAME`, or import a bundle.";
    list.append(li);
  }
  for (const c of circles) {
    const li = document.createElement("li");
    li.textContent = `${c.name ?? "(sealed)"} — ${c.members} members`;
    list.append(li);
  }
  show("home");
}

async function start() {
  const status = await backend.status();
  $("where").textContent = `Data folder: ${status.home}`;
  if (status.unlocked) return showHome();
  show(status.initialized ? "unlock" : "setup");
}

$("setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if ($("setup-pass").value !== $("setup-pass2").value) return say("The passphrases do not match.");
  say("Creating your keys…");
  try {
    await backend.init($("setup-name").value, $("setup-pass").value);
    say("");
    await showHome();
  } catch (e) {
    say(e.message);
  }
});

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Unlocking…");
  try {
    await backend.unlock($("unlock-pass").value);
    say("");
    await showHome();
  } catch (e) {
    say(e.code === "wrong_passphrase" ? "That passphrase does not open this identity." : e.message);
  }
});

start().catch((e) => say(e.message));
