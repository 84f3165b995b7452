import { test } from "node:test";
import assert from "node:assert/strict";
import { mmss, turnClock, warnBeforeEnd } from "../src/timer.js";

test("minutes and seconds", () => {
  assert.equal(mmss(0), "0:00");
  assert.equal(mmss(59.9), "0:59");
  assert.equal(mmss(61), "1:01");
  assert.equal(mmss(-5), "0:00");
  assert.equal(mmss(3600), "60:00");
});

test("the warning comes a fifth before the end, at most two minutes", () => {
  assert.equal(warnBeforeEnd(5 * 60), 60);
  assert.equal(warnBeforeEnd(15 * 60), 120);
  assert.equal(warnBeforeEnd(0), 0);
});

test("a turn counts on from what the engine reported", () => {
  const turn = { allotted: 10, elapsed_secs: 100 };
  const start = turnClock(turn, 0);
  assert.equal(start.remaining, 500);
  assert.equal(start.text, "8:20 left of 10 min");
  assert.equal(start.warning, false);
  const late = turnClock(turn, 390);
  assert.equal(late.remaining, 110);
  assert.equal(late.warning, true);
  const over = turnClock(turn, 530);
  assert.equal(over.remaining, 0);
  assert.equal(over.over, 30);
  assert.equal(over.text, "0:30 over 10 min");
  assert.equal(over.warning, true);
});

test("a turn with no allotment never warns", () => {
  const clock = turnClock({ allotted: 0, elapsed_secs: 5 }, 1);
  assert.equal(clock.warning, false);
  assert.equal(clock.elapsed, 6);
});

test("a paused turn's clock stands still", () => {
  const turn = { allotted: 10, elapsed_secs: 100, paused: true };
  assert.equal(turnClock(turn, 0).remaining, 500);
  assert.equal(turnClock(turn, 300).remaining, 500);
});
