import { test } from "node:test";
import assert from "node:assert/strict";
import { rolesInOrder } from "../src/steps.js";

test("the practice's roles come first, then the circle's own by name", () => {
  const who = (name) => ({ id: name, name });
  const roles = { Lunch: who("Cy"), host: who("Bo"), facilitator: who("Ada"), "note taker": who("Di"), timekeeper: who("Ed") };
  assert.deepEqual(rolesInOrder(roles).map(([role]) => role), ["facilitator", "timekeeper", "host", "Lunch", "note taker"]);
  assert.deepEqual(rolesInOrder({}), []);
});
