import { describe, expect, it } from "vitest";
import { TurnPacer } from "./turn-pacer.ts";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("TurnPacer", () => {
  it("runs at most perTurn tasks in one turn of the event loop, the rest in order in the turns after", async () => {
    const pacer = new TurnPacer(3);
    const ran: number[] = [];
    for (let i = 0; i < 7; i++) pacer.run(() => ran.push(i));
    expect(ran).toEqual([0, 1, 2]);
    expect(pacer.waiting).toBe(4);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pacer.waiting).toBe(0);
    // A later turn has room again: a task runs at once.
    await nextTurn();
    pacer.run(() => ran.push(7));
    expect(ran).toHaveLength(8);
  });

  it("refuses a limit that is not a whole number ≥ 1", () => {
    expect(() => new TurnPacer(0)).toThrow(RangeError);
  });
});
