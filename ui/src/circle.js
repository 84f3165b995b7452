// One circle: its gatherings and notes, goals and contracts, members (with
// sync status and invites) and charter. Re-renders from the engine whenever
// the circle changes, keeping note boxes (and what you are typing) in place.
import { backend } from "./bridge.js";
import { el, form, ago, ask, dateText, dateTimeText, dayText, drafts, localDate, restoreDrafts } from "./dom.js";
import { NoteEditor } from "./notes.js";
import { RunPanel } from "./run.js";
import { OUTCOMES, byLine, rolesInOrder } from "./steps.js";
import { lookBack, pulsePanel } from "./reflect.js";
import { drawQr } from "./qr.js";

const TABS = [
  ["gatherings", "Gatherings"],
  ["goals", "Goals & contracts"],
  ["members", "Members"],
  ["charter", "Charter & schedule"],
  ["journal", "My journal"],
  ["reflect", "Look back"],
];
const GOAL_STATES = ["open", "achieved", "dropped"];

/** When the circle meets, in this computer's language: "Every 2 weeks on
 * Thursday at 18:30 (Europe/Berlin), 90 minutes, from Jan 7, 2027". */
function rhythmText(r) {
  const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  // 1 January 2024 was a Monday.
  const weekday = new Date(2024, 0, 1 + days.indexOf(r.weekday)).toLocaleDateString([], { weekday: "long" });
  const every = r.everyWeeks === 1 ? "Every week" : `Every ${r.everyWeeks} weeks`;
  return `${every} on ${weekday} at ${r.time} (${r.timeZone}), ${r.minutes} minutes, from ${dayText(r.first)}`;
}

/** The roles the circle rotates beside facilitator, timekeeper and host. */
function ownRoles(practice) {
  return practice.roles.slice(3);
}

/** Planned gatherings in the order they take place (moved ones included). */
const byDate = (planned) => [...planned].sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`));

export class CircleView {
  constructor(root, say) {
    this.root = root;
    this.say = say;
    this.id = null;
    this.tab = "gatherings";
    this.gathering = null;
    this.editors = new Map();
    this.notesList = null;
    this.run = null;
    this.ticket = "";
    this.stale = false;
    this.rendering = Promise.resolve();
    this.pending = 0;
    // A full render rebuilds the page, which would take the focus (and the
    // half-typed text) away from a field; while one is in use, only notes
    // are updated in place, and the rest once the field is left.
    root.addEventListener("focusout", () => setTimeout(() => {
      if (this.stale && !this.typing()) this.refresh();
    }, 250));
  }

  /** Whether another tab or gathering was chosen than the page shows: an
   * explicit choice is drawn even while a field has the focus. */
  moved() {
    return !this.onScreen || this.onScreen.tab !== this.tab || this.onScreen.gathering !== this.gathering;
  }

  /** Whether the user is in a text field or list of this view. */
  typing() {
    const active = document.activeElement;
    return !!active && this.root.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
  }

  /** Moves to another tab or gathering. An explicit choice: a field
   * that still has the focus (WebKit leaves it there when a button is
   * clicked) must not hold the page as if the user were typing. */
  go(change) {
    if (this.typing()) document.activeElement.blur();
    change();
    return this.refresh();
  }

  /** Shows circle `id` (hex). */
  open(id) {
    if (id !== this.id) {
      this.id = id;
      this.gathering = null;
      this.editors = new Map();
      this.ticket = "";
    }
    return this.refresh();
  }

  /** Re-reads and re-renders what is shown (one render at a time). While
   * one is due, the view is marked `data-rendering` (what is on screen may
   * move under the pointer; the end-to-end tests wait for it to settle). */
  refresh() {
    this.pending += 1;
    this.root.dataset.rendering = "";
    this.rendering = this.rendering
      .then(() => (this.typing() && !this.moved() ? this.refreshNotes() : this.render()))
      .catch((e) => this.say(e.message))
      .finally(() => {
        this.pending -= 1;
        if (this.pending === 0) delete this.root.dataset.rendering;
      });
    return this.rendering;
  }

  /** Updates the shown notes in place, leaving every element where it is. */
  async refreshNotes() {
    this.stale = true;
    if (this.tab !== "gatherings" || !this.gathering || !this.notesList) return;
    const marks = new Map([...this.editors].map(([id, editor]) => [id, editor.mark()]));
    const { notes, version } = await backend.notes(this.id, this.gathering);
    for (const note of notes) {
      const editor = this.editors.get(note.id);
      if (editor) editor.update(note.text, version, marks.get(note.id));
      else this.notesList.append(this.editorFor(note, version).element);
    }
  }

  /** A click handler that runs `work`, then redraws; errors go to `say`. */
  /** Inviting someone (a link and its QR code) and adding a member by card. */
  inviteAndAdd() {
    return [
      el("h3", {}, "Invite someone"),
      el("p", {}, "An invite lets one person join while you are online; it works once and for a week. Send the link privately, or let them scan the code."),
      el("button", { id: "make-invite", onclick: this.act(async () => { this.invite = await backend.invite(this.id); }) }, "Make an invite"),
      this.invite ? this.invitePanel(this.invite) : null,
      el("h3", {}, "Add by member card"),
      form({ id: "add-member-form" }, [el("textarea", { name: "card", rows: 2, placeholder: "Their member card (circlekeep-member…)", required: true })], "Add member",
        async (f) => { await backend.addMember(this.id, f.card.value.trim()); f.reset(); await this.refresh(); }, this.say),
    ];
  }

  /** Keepers: always-on peers the circle enrolled, which store and forward
   * its sealed records between gatherings and read none of them. */
  keepers(circle, acts, sync) {
    const known = new Map((sync?.status.circles.find((c) => c.circle === circle.id)?.keepers ?? []).map((k) => [k.member, k]));
    const state = (k) => {
      const peer = known.get(k.id);
      if (!peer) return "—";
      if (!peer.connected) return peer.last_seen ? `not reachable, last seen ${ago(peer.last_seen)}` : "not reachable";
      return peer.entries_ahead ? `reachable, ${peer.entries_ahead} behind` : "reachable, up to date";
    };
    const rows = circle.keepers.map((k) => el("tr", { "data-keeper": k.id },
      el("td", { class: "mono" }, k.short), el("td", {}, k.addresses.join(", ")), el("td", { class: "sync" }, state(k)),
      el("td", {}, !acts ? "" : el("button", { class: "danger", onclick: async () => {
        if (await ask(`Stop using keeper ${k.short}? Members' devices stop sending it this circle's records.`, "Remove keeper")) await this.act(() => backend.removeKeeper(this.id, k.id))();
      } }, "Remove"))));
    return [
      el("h3", {}, "Keepers"),
      el("p", {}, "A keeper is an always-on computer (a home server, a small box) that holds this circle's sealed records while members' laptops are closed. It cannot read them, and it serves them only to the circle's members."),
      rows.length
        ? el("table", { id: "keepers" }, el("thead", {}, el("tr", {}, el("th", {}, "Keeper"), el("th", {}, "Address"), el("th", {}, "Sync"), el("th", {}))), el("tbody", {}, rows))
        : el("p", { id: "no-keepers", class: "meta" }, "No keeper: records travel only while two members are online together."),
      acts ? form({ id: "add-keeper-form" }, [el("textarea", { name: "ticket", rows: 2, placeholder: "The keeper's ticket (circlekeep-keeper1:…, from `circlekeep keeper ticket`)", required: true })], "Add keeper",
        async (f) => { await backend.addKeeper(this.id, f.ticket.value.trim()); f.reset(); await this.refresh(); }, this.say) : null,
    ];
  }

  /** An invite as a link (opens Circlekeep on the join screen), a Copy
   * button, a QR code of the link, and the bare ticket. */
  invitePanel({ ticket, link, qr, qr_size: size }) {
    const code = el("canvas", { id: "invite-qr", "aria-label": "The invite link as a QR code" });
    drawQr(code, size, qr);
    const copied = el("span", { class: "hint", role: "status" });
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(link);
        copied.textContent = "Copied.";
      } catch {
        this.root.querySelector("#invite-link").select();
        copied.textContent = "Select and copy the link.";
      }
    };
    return el("div", { class: "invite" },
      el("div", { class: "inline" },
        el("label", { class: "inline" }, "Link", el("input", { id: "invite-link", readonly: true, value: link, size: 40 })),
        el("button", { id: "copy-invite", type: "button", class: "secondary", onclick: copy }, "Copy"), copied),
      code,
      el("details", {}, el("summary", {}, "The ticket, for the command line"),
        el("textarea", { id: "invite-ticket", readonly: true, rows: 3 }, ticket)));
  }

  act(work) {
    return async () => {
      try {
        await work();
        await this.refresh();
      } catch (e) {
        this.say(e.message);
      }
    };
  }

  editorFor(note, version) {
    const editor = new NoteEditor({ circle: this.id, gathering: this.gathering, note, version, say: this.say, locked: !!this.run?.offRecord() });
    this.editors.set(note.id, editor);
    return editor;
  }

  async render() {
    if (!this.id) return;
    this.stale = false;
    let circle;
    try {
      circle = await backend.circle(this.id);
    } catch (e) {
      if (e.code !== "unreadable") throw e;
      this.root.replaceChildren(
        el("h2", {}, "Waiting for the circle"),
        el("p", {}, "You are in, but no member has sent you the circle's documents yet. They arrive as soon as a member is online."),
      );
      return;
    }
    // The tab this page shows, fixed now: one chosen while the page is
    // built is drawn by the refresh that choice asked for.
    const tab = this.tab;
    // The new page is built aside while the shown one keeps working.
    const shown = { run: this.run, editors: this.editors, notesList: this.notesList };
    this.refused = await backend.rejections(this.id);
    const refusedCount = this.refused.reduce((sum, r) => sum + r.count, 0);
    const body = await this[tab](circle);
    Object.assign(body, { id: "tab-panel" });
    body.setAttribute("role", "tabpanel");
    body.setAttribute("aria-labelledby", `tab-${tab}`);
    const unaccepted = circle.member && !circle.invitation ? await this.charterPrompt(circle) : null;
    if (this.typing() && !this.moved()) {
      // The user went into a field while this was built: keep their page,
      // update its notes in place, and redraw once they leave the field.
      if (this.run !== shown.run) this.run?.stop();
      Object.assign(this, shown);
      return this.refreshNotes();
    }
    shown.run?.stop();
    if (this.run === shown.run) this.run = null;
    // What the user half-filled survives the redraw a member's change
    // causes, and so does a keyboard user's place on the tabs.
    const kept = drafts(this.root);
    const tabs = this.tabBar(tab);
    const onTabs = this.root.contains(document.activeElement) && document.activeElement.getAttribute("role") === "tab";
    this.root.replaceChildren(
      ...[
        el("h2", { id: "circle-name" }, circle.name),
        circle.purpose ? el("p", { class: "purpose" }, circle.purpose) : null,
        circle.member ? null : el("p", { class: "warning" }, "You are no longer a member of this circle: nothing new reaches you."),
        circle.invitation
          ? el("p", { id: "invitation", class: "warning" }, "This circle added you. Until you accept, this device shares nothing of it and you write nothing here. ",
            el("button", { id: "accept-circle", onclick: this.act(() => backend.acceptCircle(this.id)) }, "Accept"))
          : null,
        ...(circle.forks ?? []).map((f) => el("p", { class: "warning fork-notice" }, forkWarning(f))),
        refusedCount
          ? el("p", { id: "refused-notice", class: "warning" }, `${refusedCount} record${refusedCount === 1 ? " was" : "s were"} refused: forged, altered, or from someone not in the circle. Nothing of them was applied; see Members.`)
          : null,
        unaccepted,
        tabs,
        body,
      ].filter(Boolean),
    );
    restoreDrafts(this.root, kept);
    this.onScreen = { tab, gathering: this.gathering };
    if (this.focusTab || onTabs) document.getElementById(`tab-${tab}`)?.focus();
    this.focusTab = false;
  }

  /** The tab bar, built once and kept across redraws: a click that lands
   * while a member's change redraws the page still reaches its tab. */
  tabBar(tab) {
    this.tabs ??= el(
      "nav",
      { class: "tabs", role: "tablist", "aria-label": "Circle", onkeydown: (e) => this.tabKey(e) },
      TABS.map(([key, label]) =>
        el("button", { id: `tab-${key}`, role: "tab", "aria-controls": "tab-panel", onclick: () => this.go(() => { this.tab = key; }) }, label),
      ),
    );
    for (const button of this.tabs.children) {
      const chosen = button.id === `tab-${tab}`;
      button.setAttribute("aria-selected", String(chosen));
      button.tabIndex = chosen ? 0 : -1;
    }
    return this.tabs;
  }

  /** The tabs' keys: ← and → move to the previous or next tab, Home and
   * End to the first or last, and the focus goes with them. */
  tabKey(event) {
    const at = TABS.findIndex(([key]) => key === this.tab);
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (to === undefined) return;
    // Not also a step of a running gathering (the room view's keys).
    event.preventDefault();
    event.stopPropagation();
    const [key] = TABS[(to + TABS.length) % TABS.length];
    this.focusTab = true;
    this.go(() => { this.tab = key; });
  }

  async gatherings(circle) {
    const readable = circle.gatherings.filter((g) => g.readable);
    if (!this.gathering || !circle.gatherings.some((g) => g.id === this.gathering)) {
      this.gathering = readable.at(-1)?.id ?? null;
    }
    const list = el(
      "ul",
      { class: "gatherings" },
      [...circle.gatherings].reverse().map((g) =>
        el(
          "li",
          {},
          el(
            "button",
            { class: g.id === this.gathering ? "gathering current" : "gathering", disabled: !g.readable, title: g.readable ? "" : "Sealed before you joined", onclick: () => this.go(() => { this.gathering = g.id; }) },
            dayText(g.date),
            g.readable ? "" : " (sealed)",
          ),
          g.report_on ? el("span", { class: "meta series" }, ` short series: reports back on ${dayText(g.report_on)}`) : null,
          g.follows ? el("span", { class: "meta series" }, " short series: report back") : null,
        ),
      ),
    );
    // A series that has set its actions reports back next; starting one
    // sets the day it does (two weeks on unless chosen).
    const awaiting = circle.gatherings.some((g) => g.report_on && !circle.gatherings.some((h) => h.follows === g.id));
    const reportOn = el("label", { hidden: true }, "Reports back on ", el("input", { type: "date", name: "reportOn", title: "Empty: two weeks after the first" }));
    const opener = form(
      { id: "open-gathering-form", class: "inline" },
      [
        el("label", {}, "Date ", el("input", { id: "gathering-date", type: "date", name: "date" })),
        el("label", {}, "Template ", el("select", { name: "template", onchange: (e) => { reportOn.hidden = e.target.value !== "series-start"; } },
          el("option", { value: "biweekly" }, "Biweekly circle"),
          el("option", { value: "series-start" }, "Short series: set actions"),
          el("option", { value: "series-report", selected: awaiting }, "Short series: report back"))),
        reportOn,
      ],
      "Open a gathering",
      async (f) => {
        this.gathering = await backend.openGathering(this.id, f.date.value || null, f.template.value, f.reportOn.value || null);
        await this.refresh();
      },
      this.say,
    );
    return el("section", { class: "tab-body" }, el("div", { class: "columns" },
      el("div", {}, el("h3", {}, "Gatherings"), opener, list),
      el("div", { class: "grow" }, ...(this.gathering ? await this.running() : [el("p", {}, "No gathering yet: open the first one.")]))));
  }

  /** The selected gathering: running it, then its notes. */
  async running() {
    this.run = new RunPanel({ circle: this.id, gathering: this.gathering, say: this.say, refresh: () => this.refresh() });
    const panel = await this.run.render();
    return [panel, await this.notes(), await pulsePanel(this)];
  }

  /** Search and the retrospective. */
  reflect(circle) {
    return lookBack(this, circle);
  }

  async notes() {
    // Note boxes are made afresh with each full render (nobody is typing then).
    this.editors = new Map();
    const { gathering, notes, version } = await backend.notes(this.id, this.gathering);
    const items = notes.map((note) => this.editorFor(note, version).element);
    this.notesList = el("ul", { class: "notes" }, items);
    const adder = form(
      { id: "add-note-form" },
      [el("textarea", { id: "new-note", name: "text", rows: 3, placeholder: "A note for this gathering (shared with the circle)", required: true })],
      "Add note",
      async (f) => {
        await backend.addNote(this.id, this.gathering, f.text.value);
        f.reset();
        await this.refresh();
      },
      this.say,
    );
    const closed = this.run?.offRecord()
      ? el("p", { id: "off-record", class: "warning" }, "This turn is off the record: no notes are kept until it ends.")
      : adder;
    const exporter = el("button", { id: "export-markdown", class: "secondary", onclick: () => this.save(() => backend.exportMarkdown(this.id, this.gathering)) }, "Export as Markdown");
    return el("div", { id: "notes" }, el("div", { class: "heading" }, el("h3", {}, `Notes of ${dayText(gathering.date)}`), exporter), this.notesList, closed);
  }

  /** Runs an export and says where it went (nothing if cancelled). */
  async save(exporting) {
    try {
      const path = await exporting();
      this.say(path ? `Saved to ${path}` : "", "ok");
    } catch (e) {
      this.say(e.message);
    }
  }

  async goals(circle) {
    const history = await backend.contractHistory(this.id);
    const goalName = new Map(circle.goals.map((g) => [g.id, g.text]));
    const goals = circle.goals.map((g) =>
      el("li", { class: `goal ${g.status}`, "data-goal": g.id },
        el("strong", {}, g.text), ` — ${g.owner_name}, `, el("span", { class: "status" }, g.status),
        el("ul", { class: "milestones" }, g.milestones.map((m) =>
          el("li", { class: m.reached ? "milestone reached" : "milestone", "data-milestone": m.id },
            m.reached ? `★ ${m.text} — reached ${dateText(m.reached)}` : `☆ ${m.text} `,
            m.reached ? null : el("button", { class: "secondary reach", onclick: this.act(() => backend.reachMilestone(this.id, g.id, m.id)) }, "Reached")))),
        el("ul", { class: "progress" }, g.progress.map((p) => el("li", {}, `${dateText(p.created)} ${p.author_name}: ${p.text}`))),
        el("div", { class: "inline actions" },
          form({ id: `progress-${g.id}`, class: "inline" }, [el("input", { name: "text", placeholder: "Progress", required: true })], "Add progress",
            async (f) => { await backend.goalProgress(this.id, g.id, f.text.value); f.reset(); await this.refresh(); }, this.say),
          el("details", {}, el("summary", {}, "Milestones & status…"),
            form({ id: `milestone-${g.id}`, class: "inline" }, [el("input", { name: "text", placeholder: "A milestone on the way", required: true })], "Add milestone",
              async (f) => { await backend.goalMilestone(this.id, g.id, f.text.value); f.reset(); await this.refresh(); }, this.say),
            form({ id: `status-${g.id}`, class: "inline" }, [
              el("select", { name: "status", "aria-label": "Status" }, GOAL_STATES.map((st) => el("option", { value: st, selected: st === g.status }, st))),
            ], "Set status", async (f) => { await backend.goalStatus(this.id, g.id, f.status.value); await this.refresh(); }, this.say)))),
    );
    const contracts = [...circle.contracts].reverse().map((c) =>
      el("li", { class: "contract" },
        el("strong", {}, c.text), ` — ${c.owner_name}, ${dateText(c.created)}${byLine("recorded", c.recorded_by)}`,
        c.goal && goalName.has(c.goal) ? el("div", { class: "meta" }, `towards: ${goalName.get(c.goal)}`) : null,
        c.outcome ? el("div", { class: "outcome" }, `Reported: ${c.outcome}${c.reflection ? ` — ${c.reflection}` : ""}${byLine("reported", c.reported_by)}`) : null,
        form({ id: `report-${c.id}`, class: "inline" }, [
          el("select", { name: "outcome" }, OUTCOMES.map((o) => el("option", { value: o, selected: o === c.outcome }, o))),
          el("input", { name: "reflection", placeholder: "What was learnt", value: c.reflection }),
        ], "Report back", async (f) => {
          await backend.reportContract(this.id, c.id, f.outcome.value, f.reflection.value);
          await this.refresh();
        }, this.say)),
    );
    return el("section", { class: "tab-body" },
      el("h3", {}, "Goals"),
      el("ul", { id: "goals" }, goals.length ? goals : el("li", {}, "No goals yet.")),
      form({ id: "add-goal-form", class: "inline" }, [el("input", { name: "text", placeholder: "A goal of yours", required: true })], "Set goal",
        async (f) => { await backend.addGoal(this.id, f.text.value); f.reset(); await this.refresh(); }, this.say),
      el("h3", {}, "Contracts"),
      form({ id: "add-contract-form", class: "inline" }, [
        el("input", { name: "text", placeholder: "What you commit to for the next two weeks", required: true }),
        el("select", { name: "goal" }, el("option", { value: "" }, "(no goal)"), circle.goals.map((g) => el("option", { value: g.id }, g.text))),
      ], "Make contract", async (f) => { await backend.addContract(this.id, f.text.value, f.goal.value || null); f.reset(); await this.refresh(); }, this.say),
      el("ul", { id: "contracts" }, contracts.length ? contracts : el("li", {}, "No contracts yet.")),
      history.length ? el("h3", {}, "Contract history") : null,
      history.length ? el("table", { id: "contract-history" },
        el("thead", {}, el("tr", {}, el("th", {}, "Member"), el("th", {}, "Contracts"), el("th", {}, "Kept"), el("th", {}, "Reported"))),
        el("tbody", {}, history.map((h) => el("tr", { "data-member": h.member.id },
          el("td", {}, h.member.name),
          el("td", {}, String(h.contracts.length)),
          el("td", { class: "kept" }, String(h.kept)),
          el("td", {}, String(h.contracts.filter((c) => c.outcome).length)))))) : null,
    );
  }

  async members(circle) {
    // Until this device accepts (or while it is no member), it removes,
    // invites, adds and shares nothing: the engine would refuse.
    const acts = circle.member && !circle.invitation;
    const sync = await backend.syncStatus().catch(() => null);
    const peers = new Map((sync?.status.circles.find((c) => c.circle === circle.id)?.members ?? []).map((m) => [m.member, m]));
    const rows = circle.members.map((m) => {
      const peer = peers.get(m.id);
      const state = m.me ? "this device" : !peer ? "—" : peer.connected ? (peer.entries_behind ? `connected, ${peer.entries_behind} behind` : "connected, in sync") : `offline, last seen ${ago(peer.last_seen)}`;
      return el("tr", { "data-member": m.id },
        el("td", {}, m.name), el("td", { class: "mono" }, m.fingerprint), el("td", { class: "sync" }, state),
        el("td", {}, m.me || !acts ? "" : el("button", { class: "danger", onclick: async () => {
          if (await ask(`Remove ${m.name} from the circle? They will not be able to read anything written after this, and the circle is re-keyed.`, "Remove member")) await this.act(() => backend.removeMember(this.id, m.id))();
        } }, "Remove")));
    });
    const name = (id) => circle.members.find((m) => m.id === id)?.name ?? (id ? id.slice(0, 8) : "unknown");
    const refused = this.refused.length
      ? [el("h3", {}, "Refused records"),
        el("p", { class: "meta" }, "Sent to this circle by a peer or in a bundle, and refused. None was applied; your copy of the circle is as it was."),
        el("table", { id: "refused" },
          el("thead", {}, el("tr", {}, el("th", {}, "Last seen"), el("th", {}, "Times"), el("th", {}, "Claimed author"), el("th", {}, "Why"))),
          el("tbody", {}, this.refused.map(({ last, first, count, rejection: r }) => el("tr", {},
            el("td", { title: count > 1 ? `first ${dateTimeText(first)}` : null }, dateTimeText(last)),
            el("td", {}, String(count)),
            el("td", {}, r.author ? `${name(r.author)}${r.seq == null ? "" : ` #${r.seq}`}` : "various"),
            el("td", { title: r.code }, r.message)))))]
      : [];
    return el("section", { class: "tab-body" },
      el("table", { id: "members" }, el("thead", {}, el("tr", {}, el("th", {}, "Member"), el("th", {}, "Fingerprint"), el("th", {}, "Sync"), el("th", {}))), el("tbody", {}, rows)),
      ...(acts ? this.inviteAndAdd() : []),
      ...this.keepers(circle, acts, sync),
      el("h3", {}, "Sync by file"),
      el("p", {}, "For a member no network reaches: save a sync file and hand it over (USB stick, e-mail). It holds only sealed, signed records; they open it with Sync by file."),
      el("label", {}, "For ",
        el("select", { id: "bundle-for" },
          el("option", { value: "" }, "anyone (everything this device holds)"),
          circle.members.filter((m) => !m.me).map((m) => el("option", { value: m.id }, `${m.name} (only what they lack)`)))),
      el("button", { id: "export-bundle", class: "secondary", onclick: () => this.save(() => backend.exportBundle(this.id, this.root.querySelector("#bundle-for").value)) }, "Save a sync file…"),
      ...refused,
      circle.member ? el("h3", {}, "Leave") : null,
      circle.member ? el("button", { id: "leave-circle", class: "danger", onclick: async () => {
        if (await ask(`Leave ${circle.name}? The others re-key the circle, and nothing written from then on reaches you. What you hold now stays on this device.`, "Leave circle")) await this.act(() => backend.leaveCircle(this.id))();
      } }, "Leave this circle") : null,
    );
  }

  async charter(circle) {
    const practice = await backend.practice(this.id);
    const me = circle.members.find((m) => m.me);
    const mine = practice.charter.find((a) => a.member.id === me?.id);
    const editor = form({ id: "edit-charter-form" }, [
      el("textarea", { name: "text", rows: 12, required: true, "aria-label": "Ground rules" }, circle.charter),
    ], "Save the ground rules", async (f) => {
      await backend.editCharter(this.id, f.text.value);
      await this.refresh();
    }, this.say);
    return el("section", { class: "tab-body" },
      practice.guide_prompt ? el("p", { id: "guide-prompt", class: "warning" }, practice.guide_prompt, " ", this.handOver(practice.guide, me)) : null,
      el("pre", { id: "charter", class: "charter" }, circle.charter),
      mine && !mine.accepted ? el("button", { id: "accept-charter", onclick: this.act(() => backend.acceptCharter(this.id)) }, "I accept these ground rules") : null,
      el("ul", { id: "acceptance" }, practice.charter.map((a) => el("li", { "data-member": a.member.id }, `${a.member.name}: ${a.accepted ? "accepted" : "not yet accepted"}`))),
      el("details", { id: "edit-charter" }, el("summary", {}, "Change the ground rules (everyone accepts again)"), editor),
      this.setupForm(circle, practice),
      el("div", { class: "heading" }, el("h3", {}, "Next gatherings"),
        el("button", { id: "export-ics", class: "secondary", onclick: () => this.save(() => backend.exportIcs(this.id)) }, "Export the year (.ics)")),
      practice.rhythm ? el("p", { id: "rhythm" }, rhythmText(practice.rhythm)) : el("p", {}, "No rhythm set yet: set it above to plan the year and the rota."),
      el("ul", { id: "schedule", class: "schedule" }, byDate(practice.next).map((p) => this.planned(p, me?.id, practice, circle.members))),
    );
  }

  /** One planned gathering, with what any member may change about it. */
  planned(p, me, practice, members) {
    const next = practice.next;
    const away = (id) => p.absent.some((a) => a.id === id);
    const absent = away(me);
    // Someone told you they can't come (or can after all): note it for them.
    const forOthers = form({ id: `absent-${p.planned}`, class: "inline" }, [
      el("select", { name: "member", "aria-label": "Member" }, members.filter((m) => !m.me).map((m) =>
        el("option", { value: m.id }, away(m.id) ? `${m.name} can come after all` : `${m.name} can't come`))),
    ], "Note it", async (f) => {
      await backend.setAbsent(this.id, p.planned, !away(f.member.value), f.member.value);
      await this.refresh();
    }, this.say);
    const others = next.filter((o) => o.planned !== p.planned && !o.cancelled);
    const swapper = form({ id: `swap-${p.planned}`, class: "inline" }, [
      el("select", { name: "role", "aria-label": "Role" }, practice.roles.map((r) => el("option", { value: r }, r))),
      el("label", {}, "with ", el("input", { name: "other", type: "date", value: others[0]?.planned ?? "", required: true, "aria-label": "The other gathering" })),
    ], "Swap", async (f) => {
      await backend.swapRole(this.id, f.role.value, p.planned, f.other.value);
      await this.refresh();
    }, this.say);
    const mover = form({ id: `move-${p.planned}`, class: "inline" }, [
      el("input", { name: "to", type: "date", value: p.date, required: true, "aria-label": "New date" }),
      el("input", { name: "time", type: "time", value: p.time, "aria-label": "New time" }),
      el("input", { name: "place", value: p.place ?? "", maxlength: 500, placeholder: "Place or video link", "aria-label": "Place for this gathering" }),
    ], "Move", async (f) => {
      // An unchanged place stays as it is; a cleared one goes back to the circle's.
      const place = f.place.value.trim() === (p.place ?? "") ? null : f.place.value;
      await backend.reschedule(this.id, p.planned, f.to.value, f.time.value || null, place);
      await this.refresh();
    }, this.say);
    const roles = rolesInOrder(p.roles).map(([role, who]) => `${role}: ${who.name}`).join(", ");
    return el("li", { class: p.cancelled ? "planned cancelled" : "planned", "data-planned": p.planned, "data-date": p.date },
      el("div", {}, el("strong", {}, `${dayText(p.date)} ${p.time}`),
        p.moved ? ` (moved from ${dayText(p.planned)})` : "",
        p.cancelled ? " — cancelled" : ` — ${roles}`,
        p.place ? el("span", { class: "place" }, ` · at ${p.place}`) : null,
        p.absent.length ? el("span", { class: "meta" }, ` · not coming: ${p.absent.map((a) => a.name).join(", ")}`) : null),
      el("div", { class: "inline actions" },
        p.cancelled ? null : el("button", { class: "secondary absent", onclick: this.act(() => backend.setAbsent(this.id, p.planned, !absent)) },
          absent ? "I can come after all" : "I can't come"),
        el("button", { class: "secondary cancel", onclick: async () => {
          if (p.cancelled || await ask(`Cancel the gathering of ${dayText(p.date)} at ${p.time} for everyone in the circle?`, "Cancel gathering", "Keep it")) await this.act(() => backend.cancelGathering(this.id, p.planned, !p.cancelled))();
        } },
          p.cancelled ? "Restore" : "Cancel"),
        el("details", { class: "move" }, el("summary", {}, "Move…"), mover),
        p.cancelled || members.length < 2 ? null : el("details", { class: "others-absent" }, el("summary", {}, "Someone else…"), forOthers),
        p.cancelled ? null : el("details", { class: "swap" }, el("summary", {}, "Swap a role…"), swapper)));
  }

  /** Joining means accepting: until I accept the ground rules as they
   * stand, they are shown above every tab with the choice to accept. */
  async charterPrompt(circle) {
    const practice = await backend.practice(this.id).catch(() => null);
    const me = circle.members.find((m) => m.me);
    const mine = practice?.charter.find((a) => a.member.id === me?.id);
    if (!mine || mine.accepted) return null;
    return el("section", { id: "charter-prompt", class: "warning", "aria-label": "The circle's ground rules" },
      el("p", {}, "This circle works by these ground rules. Read them, and accept them to take part in good faith."),
      el("details", { open: true }, el("summary", {}, "Ground rules"), el("pre", { class: "charter" }, circle.charter)),
      el("button", { id: "accept-charter-here", onclick: this.act(() => backend.acceptCharter(this.id)) }, "I accept these ground rules"));
  }

  /** The guide's hand-over: the guide leaves the circle (a new epoch), thanked. */
  handOver(guide, me) {
    return el("button", { id: "hand-over", onclick: async () => {
      const self = guide.id === me?.id;
      const question = self
        ? "Hand over and leave the circle? You will not read what it writes from now on."
        : `Hand over: ${guide.name} leaves the circle, and it is re-keyed. They will not read what it writes from now on.`;
      if (!(await ask(question, "Hand over"))) return;
      try {
        await (self ? backend.leaveCircle(this.id) : backend.removeMember(this.id, guide.id));
        this.say(self ? "Thank you for guiding the circle." : `Thank you, ${guide.name}, for guiding the circle.`, "ok");
      } catch (e) {
        this.say(e.message);
      }
      await this.refresh();
    } }, "Hand over");
  }

  /** Purpose and when the circle meets (the schedule and rota follow from it). */
  setupForm(circle, practice) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    // The form starts from the rhythm the circle has (or a usual one from
    // today), and Save sends it whenever it differs: no field is ignored.
    const now = practice.rhythm ?? { everyWeeks: 2, weekday: "thu", time: "18:30", minutes: 90, timeZone: zone, first: localDate(new Date()) };
    const setup = form({ id: "setup-circle-form" }, [
      el("label", {}, "Purpose", el("input", { name: "purpose", value: circle.purpose ?? "", maxlength: 2000 })),
      el("label", {}, "Where the circle meets", el("input", { name: "place", value: practice.place ?? "", maxlength: 500, placeholder: "An address, a room or a video link" })),
      el("label", {}, "Roles of its own, rotated like the others (up to 4, comma-separated)",
        el("input", { name: "roles", value: ownRoles(practice).join(", "), maxlength: 200, placeholder: "e.g. lunch, note-taker" })),
      el("div", { class: "inline" },
        el("label", {}, "Every (weeks)", el("input", { name: "everyWeeks", type: "number", min: 1, max: 8, value: now.everyWeeks, required: true })),
        el("label", {}, "On", el("select", { name: "weekday" }, days.map((d) => el("option", { value: d, selected: d === now.weekday }, d)))),
        el("label", {}, "At", el("input", { name: "time", type: "time", value: now.time, required: true })),
        el("label", {}, "Minutes", el("input", { name: "minutes", type: "number", min: 15, max: 480, value: now.minutes, required: true }))),
      el("div", { class: "inline" },
        el("label", {}, "Time zone", el("input", { name: "timeZone", value: now.timeZone, required: true })),
        el("label", {}, "From", el("input", { name: "first", type: "date", value: now.first, required: true, title: "The first gathering is on the chosen weekday on or after this date" }))),
      el("label", {}, "Guide (helps launch the circle, leaves after the third gathering)",
        el("select", { name: "guide" }, el("option", { value: "" }, "(no guide)"),
          circle.members.map((m) => el("option", { value: m.id, selected: m.id === practice.guide?.id }, m.name)))),
    ], "Save", async (f) => {
      const typed = {
        everyWeeks: Number(f.everyWeeks.value), weekday: f.weekday.value, time: f.time.value,
        minutes: Number(f.minutes.value), timeZone: f.timeZone.value.trim(), first: f.first.value,
      };
      const same = practice.rhythm && Object.keys(typed).every((k) => typed[k] === practice.rhythm[k]);
      const guide = f.guide.value === (practice.guide?.id ?? "") ? null : f.guide.value;
      const place = f.place.value.trim() === (practice.place ?? "") ? null : f.place.value;
      const roles = f.roles.value.split(",").map((r) => r.trim()).filter((r) => r);
      const sameRoles = roles.join(",") === ownRoles(practice).join(",");
      await backend.setupCircle(this.id, f.purpose.value, same ? null : typed, guide, place, sameRoles ? null : roles);
      await this.refresh();
      return same ? "Saved." : "Saved: the schedule and rota follow the new rhythm.";
    }, this.say);
    return el("details", { id: "setup-circle", open: !practice.cadence },
      el("summary", {}, practice.cadence ? "Change purpose, place, rhythm, roles or guide" : "Set the purpose and when the circle meets"), setup);
  }

  async journal() {
    const entries = await backend.journal(this.id);
    return el("section", { class: "tab-body" },
      el("p", { class: "meta" }, "Your reflections on this circle. Sealed to you alone: no other member, and no other device, can read them."),
      form({ id: "journal-form" }, [el("textarea", { id: "journal-text", name: "text", rows: 4, placeholder: "What I noticed, what I want to try", required: true })], "Write in my journal",
        async (f) => { await backend.journalAdd(f.text.value, this.id); f.reset(); await this.refresh(); }, this.say),
      el("ul", { id: "journal", class: "journal" }, [...entries].reverse().map((e) =>
        el("li", {}, el("div", { class: "meta" }, dateTimeText(e.created)), el("p", {}, e.text)))),
    );
  }
}

/** What a forked log means and what to do (see `circle show` in the CLI). */
function forkWarning(fork) {
  if (fork.this_device) {
    return `This device's key signed two different records at place ${fork.at} of its log: it is in use on another computer too (a restored backup?). Use it on one computer only: on the other, start over with an empty data folder and choose "Use this computer as another of your devices" on the first screen.`;
  }
  return `${fork.member.name}'s device ${fork.device_short} signed two different records at place ${fork.at} of its log (a copied key, or a modified app): members may see different versions of what it wrote. Ask ${fork.member.name} to retire that device, or remove the member and add them again with a new key.`;
}
