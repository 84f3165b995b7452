import { test } from "node:test";
import assert from "node:assert/strict";
import { dateText, dateTimeText, dayText, localDate } from "../src/dom.js";

test("a local date is the computer's calendar day, not UTC's", () => {
  assert.equal(localDate(new Date(2026, 0, 5, 23, 59)), "2026-01-05");
  assert.equal(localDate(new Date(2026, 11, 31, 0, 1)), "2026-12-31");
});

test("stored moments are shown in the computer's time zone and locale", () => {
  const moment = "2026-12-02T23:30:00Z";
  const at = new Date(moment);
  assert.equal(dateText(moment), at.toLocaleDateString([], { dateStyle: "medium" }));
  assert.equal(dateTimeText(moment), at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }));
  // What cannot be read is shown as it is, never "Invalid Date".
  assert.equal(dateText("someday"), "someday");
  assert.equal(dateTimeText(""), "");
});

test("a planned day is shown in the locale as that very day, whatever the time zone", () => {
  assert.equal(dayText("2027-01-08"), new Date(2027, 0, 8).toLocaleDateString([], { dateStyle: "medium" }));
  assert.equal(dayText("2027-02-30"), "2027-02-30");
  assert.equal(dayText("soon"), "soon");
});
