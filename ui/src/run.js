// Running a gathering, as the facilitator (or anyone at the table) does:
// the agenda with its current step, who is here, time requests and the
// minutes fitted for each, the running turn with its timer, and airtime so
// far. Every change goes to the engine and syncs to the circle; the panel
// is redrawn from the engine's state, and only the timer ticks on its own.
import { backend } from "./bridge.js";
import { el, ask, form } from "./dom.js";
import { mmss, turnClock } from "./timer.js";
import { stepBrief, askContract } from "./steps.js";
import { roomControls, roomSummary, bindKeys, chime, roomOn, setRoom } from "./room.js";

export class RunPanel {
  /** `refresh()` re-reads the circle after a change; `say(message)` shows errors. */
  constructor({ circle, gathering, say, refresh }) {
    Object.assign(this, { circle, gathering, say, refresh });
    this.tick = null;
  }

  /** Stops the timer (the panel is about to be replaced). */
  stop() {
    clearInterval(this.tick);
    this.tick = null;
    this.unbind?.();
    this.unbind = null;
  }

  /** Runs `action`, shows its error if any, and redraws. */
  act(action) {
    return async (event) => {
      // The page is redrawn only when no field has the focus (WebKit
      // leaves it in a field when a button is clicked).
      if (this.element?.contains(document.activeElement)) document.activeElement.blur();
      try {
        await action(event);
        this.say("");
      } catch (e) {
        this.say(e.message);
      }
      await this.refresh();
    };
  }

  /** Reads the gathering's state and builds the panel. */
  async render() {
    // The keys stay bound while the state is read: a key pressed during a
    // redraw (a peer's change arriving) is not lost.
    clearInterval(this.tick);
    const [state, brief] = await Promise.all([
      backend.gatheringState(this.circle, this.gathering),
      backend.stepBrief(this.circle, this.gathering),
    ]);
    Object.assign(this, { state, brief });
    const { circle, gathering } = this;
    const current = state.agenda.findIndex((s) => s.current);
    const agenda = el("ol", { id: "agenda", class: "agenda" }, state.agenda.map((step, i) =>
      el("li", { class: step.current ? "step current" : "step", "aria-current": step.current ? "step" : false },
        el("button", { class: "step-title", onclick: this.act(() => backend.setStep(circle, gathering, i)) }, step.title),
        el("span", { class: "meta" }, ` ${step.minutes} min `),
        el("button", { class: "secondary remove-step", title: `Remove “${step.title}” from the agenda`, "aria-label": `Remove ${step.title}`, onclick: async () => {
          if (await ask(`Remove “${step.title}” from the agenda? It goes for everyone at the gathering.`, "Remove step")) await this.act(() => backend.removeStep(circle, gathering, i))();
        } }, "×"))));
    const adder = el("details", { id: "edit-agenda" }, el("summary", {}, "Add a step…"),
      form({ id: "add-step-form", class: "inline" }, [
        el("input", { name: "title", placeholder: "What the circle does", required: true, maxlength: 200 }),
        el("input", { name: "minutes", type: "number", min: 1, max: 240, value: 5, required: true, "aria-label": "Minutes" }),
      ], "Add", async (f) => {
        await backend.addStep(circle, gathering, f.title.value, Number(f.minutes.value));
        f.reset();
        await this.refresh();
      }, this.say));
    const stepping = el("div", { class: "inline" },
      el("button", { id: "previous-step", disabled: current <= 0, onclick: this.act(() => backend.setStep(circle, gathering, current - 1)) }, "Previous step"),
      el("button", { id: "next-step", disabled: current >= state.agenda.length - 1, onclick: this.act(() => backend.setStep(circle, gathering, current + 1)) }, "Next step"));

    // One turn at a time: starting another waits until this one ends.
    // Outside the turns (check-in, report back, a discussion) a member's
    // time is speaking time: airtime, no feedback asked, no contract.
    const running = !!state.current_turn;
    const turnsHere = state.agenda[current]?.holds_turns ?? true;
    this.turnsHere = turnsHere;
    const startLabel = turnsHere ? "Start turn" : "Speaks";
    const rows = state.airtime.map((a) =>
      el("tr", { "data-member": a.member.id },
        el("td", {}, a.member.name),
        el("td", {}, el("label", { class: "inline" },
          el("input", { type: "checkbox", class: "present", checked: a.present === true, onchange: this.act((e) => backend.setAttendance(circle, gathering, a.member.id, e.target.checked)) }),
          a.present === false ? "absent" : a.present === true ? "here" : "not marked")),
        el("td", {}, el("input", { type: "number", class: "request", min: 0, max: 240, value: a.requested ?? "", placeholder: "min", "aria-label": `Minutes ${a.member.name} asks for`,
          onchange: this.act((e) => backend.requestTime(circle, gathering, a.member.id, Number(e.target.value) || 0)) })),
        el("td", { class: "fitted", title: a.fitted == null ? "asked for no time" : "" }, a.fitted == null ? "—" : `${a.fitted} min`),
        el("td", { class: "airtime" }, mmss(a.airtime_secs)),
        el("td", {}, el("button", { class: "start-turn", disabled: a.present === false || running,
          title: running ? "End the current turn first" : turnsHere ? null : "Time counted as airtime, not a turn", onclick: this.act(() => this.startTurn(a.member.id)) }, startLabel))));
    const table = el("table", { id: "airtime" },
      el("thead", {}, el("tr", {}, ["Member", "Here", "Asks", "Fitted", "Airtime", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));

    const next = state.waiting[0];
    const turnOptions = form({ id: "turn-options", class: "inline" }, [
      el("input", { name: "feedback", placeholder: "Feedback wanted (for the next turn)", size: 36, hidden: !turnsHere }),
      el("label", { class: "inline" }, el("input", { type: "checkbox", name: "offRecord" }), "Off the record"),
    ], running ? "A turn is running" : !next ? "Everyone here has had a turn" : turnsHere ? `Start ${next.name}'s turn` : `${next.name} speaks`, async () => {
      await this.startTurn(next.id);
      await this.refresh();
    }, this.say);
    turnOptions.querySelector("button").disabled = !next || running;
    this.options = turnOptions;

    // The turn and its timer come first: readable across the table, and in
    // sight on a small screen.
    this.element = el("section", { id: "run", class: "run" },
      el("h3", {}, "Running the gathering"),
      roomControls(() => this.refresh()),
      roomSummary(state),
      this.turn(state.current_turn, table),
      stepBrief({ circle, brief, say: this.say, refresh: this.refresh }),
      el("div", { class: "columns run-columns" },
        el("div", {}, el("h4", {}, "Agenda"), agenda, stepping, adder),
        el("div", {},
          el("div", { class: "table-scroll" }, table),
          el("p", { id: "waiting", class: "meta" }, state.waiting.length ? `Not yet had a turn: ${state.waiting.map((w) => w.name).join(", ")}` : "Everyone here has had a turn."),
          turnOptions)));
    // Two redraws can overlap (a change from a peer while a click's
    // redraw waits): what the earlier one bound goes, or R would toggle
    // the room view twice.
    this.unbind?.();
    this.unbind = bindKeys({
      next: this.act(() => current < state.agenda.length - 1 && backend.setStep(circle, gathering, current + 1)),
      previous: this.act(() => current > 0 && backend.setStep(circle, gathering, current - 1)),
      turn: this.act(() => (running ? this.endTurn(state.current_turn.member, state.current_turn.speaking) : next && this.startTurn(next.id))),
      room: () => { setRoom(!roomOn()); this.refresh(); },
      pause: this.act(() => running && backend.pauseTurn(circle, gathering, !state.current_turn.paused)),
    });
    return this.element;
  }

  /** Starts `member`'s turn, or their speaking time at a step that holds
   * no turns. */
  async startTurn(member) {
    const f = this.options;
    if (this.turnsHere) await backend.startTurn(this.circle, this.gathering, member, null, f.feedback.value, f.offRecord.checked);
    else await backend.startSpeaking(this.circle, this.gathering, member, f.offRecord.checked);
    // What was asked for this turn is not carried over to the next one.
    f.reset();
  }

  /** Ends the turn, then asks for the presenter's contract until next
   * time (recorded for them if this is not their device). */
  async endTurn(presenter, speaking) {
    await backend.endTurn(this.circle, this.gathering);
    if (speaking) return;
    const contract = await askContract(presenter, this.brief.goals);
    if (contract) await backend.addContract(this.circle, contract.text, contract.goal, presenter.id, this.gathering);
  }

  /** The running turn with a live timer, which also ticks the member's
   * airtime in `table`. */
  turn(running, table) {
    if (!running) return el("div", { id: "turn", class: "turn idle" }, "No turn is running.");
    const airtime = table.querySelector(`tr[data-member="${CSS.escape(running.member.id)}"] .airtime`);
    const before = this.state.airtime.find((a) => a.member.id === running.member.id)?.airtime_secs ?? 0;
    const read = performance.now();
    const clockText = el("strong", { id: "turn-clock" });
    // Said in words as well as colour, and announced to screen readers when
    // it changes (not every second).
    const stage = el("span", { id: "turn-stage", class: "meta", role: "status", "aria-live": "polite" });
    const box = el("div", { id: "turn", class: "turn", "data-member": running.member.id },
      el("div", {}, running.speaking ? `${running.member.name} speaking` : `${running.member.name}'s turn`, running.off_record ? el("span", { class: "badge" }, " off the record — no notes are kept") : null),
      running.feedback_wanted ? el("div", { class: "meta" }, `Feedback wanted: ${running.feedback_wanted}`) : null,
      clockText, stage,
      el("div", { class: "inline" },
        el("button", { id: "pause-turn", class: "secondary", "aria-pressed": running.paused ? "true" : "false",
          onclick: this.act(() => backend.pauseTurn(this.circle, this.gathering, !running.paused)) },
          running.paused ? "Resume" : "Pause"),
        el("button", { id: "end-turn", onclick: this.act(() => this.endTurn(running.member, running.speaking)) }, running.speaking ? "Done speaking" : "End turn")));
    box.classList.toggle("paused", running.paused);
    const show = () => {
      const clock = turnClock(running, (performance.now() - read) / 1000);
      const since = clock.elapsed - running.elapsed_secs;
      // The time large, what it is of smaller: "5:00" · "left of 5 min".
      const [time, ...rest] = clock.text.split(" ");
      clockText.replaceChildren(el("span", { class: "clock-time" }, time), " ", el("span", { class: "clock-of" }, rest.join(" ")));
      box.classList.toggle("warning", clock.warning && clock.over === 0);
      box.classList.toggle("over", clock.over > 0);
      const said = running.paused ? "Paused" : clock.over > 0 ? "Over time" : clock.warning ? "Nearly time" : "";
      if (stage.textContent !== said) {
        // A chime as the stage changes (not on the first draw of a turn
        // already over time).
        if (said && said !== "Paused" && stage.dataset.drawn) chime();
        stage.textContent = said;
      }
      stage.dataset.drawn = "1";
      if (airtime) airtime.textContent = mmss(before + since);
    };
    show();
    clearInterval(this.tick);
    this.tick = setInterval(show, 1000);
    return box;
  }

  /** Whether the running turn keeps no notes. */
  offRecord() {
    return !!this.state?.current_turn?.off_record;
  }
}
