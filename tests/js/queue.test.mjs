import { test } from "node:test";
import assert from "node:assert/strict";
import * as Q from "../../app/web/collect/js/queue.js";
import { ROUND, ZONE, item } from "./helpers.mjs";

test("a payer of the round is resolved to its id; another is kept as typed", () => {
  const bus = item({ payer: " bus 01 " });
  assert.equal(bus.unit_id, "u-1");
  assert.equal(bus.member_id, null);
  assert.equal(bus.payer_ref, "BUS-01");
  assert.equal(bus.in_round, true);
  const member = item({ payer: "s-001" });
  assert.equal(member.member_id, "m-1");
  const other = item({ payer: " bus 11 " });
  assert.equal(other.member_id, null);
  assert.equal(other.unit_id, null);
  assert.equal(other.payer_ref, "bus 11");
  assert.equal(other.in_round, false);
  assert.deepEqual(Q.receiptBody(other, 2), {
    client_id: other.client_id,
    amount: "55.00",
    currency: "DOP",
    received_at: other.received_at,
    channel: "cash",
    payer: "bus 11",
  });
  assert.equal(Q.receiptBody(bus, 2).unit_id, "u-1");
  assert.equal(Q.receiptBody(member, 2).member_id, "m-1");
  assert.equal(Q.receiptBody(item({ reference: " MM-1 " }), 2).reference, "MM-1");
  assert.equal(Q.owed(ROUND[0], 2), 16500);
  assert.equal(Q.owed(ROUND[1], 2), 0);
});

test("new items wait; amounts must be positive whole minor units; client ids are unique", () => {
  const a = item();
  assert.equal(a.status, Q.WAITING);
  assert.throws(() => item({ amountMinor: -1 }), Q.QueueError);
  assert.throws(() => Q.newItem({ clientId: "x", payer: "BUS-01", amountMinor: 1.5, currency: "DOP" }), Q.QueueError);
  assert.throws(() => Q.newItem({ clientId: "x", payer: "  ", amountMinor: 100, currency: "DOP" }), Q.QueueError);
  const q = Q.addItem([], a);
  assert.throws(() => Q.addItem(q, a), Q.QueueError);
});

test("waiting and rejected items can be edited (same client id, back to waiting) or deleted; posted ones cannot", () => {
  const [w, p, r] = [item(), item(), item({ payer: "ZZ-9" })];
  let q = [w, p, r];
  q = Q.applyResults(q, [p.client_id, r.client_id], [
    { client_id: p.client_id, status: "created", receipt_number: 7, receipt_id: "r7" },
    { client_id: r.client_id, status: "rejected", errors: [{ field: "payer", message: "no member or unit ZZ-9" }] },
  ]);
  assert.deepEqual(q.map((i) => i.status), ["waiting", "posted", "rejected"]);
  assert.deepEqual(q.map(Q.editable), [true, false, true]);

  assert.throws(() => Q.editItem(q, p.client_id, { amountMinor: 100 }), /posted/);
  assert.throws(() => Q.deleteItem(q, p.client_id), /posted/);
  assert.throws(() => Q.deleteItem(q, "nope"), /no such/);

  const fixed = Q.editItem(q, r.client_id, { round: ROUND, payer: "BUS-01", amountMinor: 6000, channel: "bank", reference: "" });
  const again = fixed.find((i) => i.client_id === r.client_id);
  assert.equal(again.status, Q.WAITING);
  assert.equal(again.errors, null);
  assert.equal(again.unit_id, "u-1");
  assert.equal(again.amount_minor, 6000);
  assert.equal(again.channel, "bank");
  assert.equal(again.reference, null);
  assert.equal(again.received_at, r.received_at);
  assert.equal(fixed.length, 3);
  assert.throws(() => Q.editItem(q, w.client_id, { amountMinor: 0 }), Q.QueueError);

  const less = Q.deleteItem(Q.deleteItem(q, w.client_id), r.client_id);
  assert.deepEqual(less.map((i) => i.client_id), [p.client_id]);
});

test("the organisation's day of an instant, across its midnight", () => {
  assert.equal(Q.localDate("2026-12-02T03:59:00Z", ZONE), "2026-12-01"); // 23:59 the day before
  assert.equal(Q.localDate("2026-12-02T04:00:00Z", ZONE), "2026-12-02"); // 00:00
  assert.equal(Q.localDate("2026-12-02T03:59:00Z", "UTC"), "2026-12-02");
});

test("waiting items group by collected_on in the org's zone, oldest day first", () => {
  const late = item({ receivedAt: "2026-12-02T03:30:00.000Z" }); // 1 Dec 23:30 in Santo Domingo
  const early = item({ receivedAt: "2026-12-02T04:30:00.000Z" }); // 2 Dec 00:30
  const before = item({ receivedAt: "2026-12-01T12:00:00.000Z" }); // 1 Dec 08:00
  const posted = { ...item({ receivedAt: "2026-12-01T13:00:00.000Z" }), status: Q.POSTED };
  const sheets = Q.sheets([early, late, posted, before], ZONE);
  assert.deepEqual(
    sheets.map((s) => [s.collected_on, s.items.map((i) => i.client_id)]),
    [
      ["2026-12-01", [before.client_id, late.client_id]],
      ["2026-12-02", [early.client_id]],
    ],
  );
  // in UTC both are the 2nd: one sheet
  assert.equal(Q.sheets([early, late], "UTC").length, 1);
  // an item being edited is held back
  assert.equal(Q.sheets([early, late], ZONE, { skip: new Set([late.client_id]) }).length, 1);
  const body = Q.sheetBody(sheets[0], 2);
  assert.equal(body.collected_on, "2026-12-01");
  assert.equal(body.receipts.length, 2);
  assert.equal(body.receipts[0].amount, "55.00");
});

test("a day of more than 200 waiting items goes in chunks of at most 200", () => {
  const many = [];
  for (let i = 0; i < 450; i++) {
    many.push(item({ receivedAt: new Date(Date.UTC(2026, 11, 2, 12, 0, i)).toISOString() }));
  }
  many.push(item({ receivedAt: "2026-12-03T12:00:00.000Z" }));
  const sheets = Q.sheets(many, ZONE);
  assert.deepEqual(sheets.map((s) => [s.collected_on, s.items.length]), [
    ["2026-12-02", 200],
    ["2026-12-02", 200],
    ["2026-12-02", 50],
    ["2026-12-03", 1],
  ]);
  const sent = sheets.flatMap((s) => s.items.map((i) => i.client_id));
  assert.equal(new Set(sent).size, 451);
  assert.equal(Q.sheets(many, ZONE, { size: 500 }).length, 2);
});

test("results: created and duplicate are posted with number and periods; rejected keeps the reason; others unaffected", () => {
  const [a, b, c, d, e] = [item(), item(), item({ payer: "ZZ-9" }), item(), item()];
  const q = [a, b, c, d, e];
  const periods = [{ period_start: "2026-12-01", period_end: "2026-12-01", amount: "55.00" }];
  const errors = [{ field: "payer", message: "no member or unit ZZ-9", code: "receipt_sheet.unknown_payer", params: { reference: "ZZ-9" } }];
  const out = Q.applyResults(q, [a.client_id, b.client_id, c.client_id, d.client_id], [
    { client_id: a.client_id, status: "created", receipt_id: "r1", receipt_number: 101, periods },
    { client_id: b.client_id, status: "duplicate", receipt_id: "r0", receipt_number: 99 },
    { client_id: c.client_id, status: "rejected", errors },
    { client_id: "someone-else", status: "created", receipt_number: 5 }, // not sent: ignored
  ]);
  const by = Object.fromEntries(out.map((i) => [i.client_id, i]));
  assert.equal(by[a.client_id].status, "posted");
  assert.equal(by[a.client_id].receipt_number, 101);
  assert.deepEqual(by[a.client_id].periods, periods);
  assert.equal(by[b.client_id].status, "posted");
  assert.equal(by[b.client_id].receipt_number, 99);
  assert.equal(by[c.client_id].status, "rejected");
  assert.deepEqual(by[c.client_id].errors, errors);
  assert.equal(by[d.client_id].status, "waiting"); // sent, but no answer for it
  assert.equal(by[e.client_id].status, "waiting"); // not sent
  assert.deepEqual(Q.counts(out), { waiting: 2, posted: 2, rejected: 1 });
  // results without client ids are matched by position
  const byPosition = Q.applyResults([d, e], [d.client_id, e.client_id], [{ status: "created", receipt_number: 1 }, { status: "rejected", errors }]);
  assert.deepEqual(byPosition.map((i) => i.status), ["posted", "rejected"]);
  // an answer for an item no longer waiting changes nothing
  assert.deepEqual(Q.applyResults(out, [c.client_id], [{ client_id: c.client_id, status: "created", receipt_number: 3 }]), out);
  // a whole sheet refused: its items rejected with the problem's reason
  const refused = Q.rejectAll([d, e], [d.client_id], { code: "x.y", params: { a: "1" }, detail: "no" });
  assert.equal(refused[0].status, "rejected");
  assert.deepEqual(refused[0].errors, [{ field: "sheet", code: "x.y", params: { a: "1" }, message: "no" }]);
  assert.equal(refused[1].status, "waiting");
});

test("a payer typed off the round takes the server's name and plate once posted", () => {
  const typed = item({ payer: " bus 11 " });
  assert.equal(typed.payer_name, null);
  const payer = { kind: "unit", member_id: null, unit_id: "u-11", number: "BUS-11", name: "minibus · Chofer 11" };
  const [posted] = Q.applyResults([typed], [typed.client_id], [
    { client_id: typed.client_id, status: "created", receipt_number: 7, payer },
  ]);
  assert.equal(posted.payer_ref, "BUS-11");
  assert.equal(posted.payer_name, "minibus · Chofer 11");
  assert.equal(posted.unit_id, "u-11");
  // an answer without a payer (an older server) keeps what was typed
  const [kept] = Q.applyResults([typed], [typed.client_id], [{ client_id: typed.client_id, status: "duplicate", receipt_number: 7 }]);
  assert.equal(kept.payer_ref, "bus 11");
});

test("a duplicate answered with another amount takes the server's (an edit after a lost answer)", () => {
  const edited = item({ amountMinor: 9900 });
  const [posted] = Q.applyResults([edited], [edited.client_id], [
    { client_id: edited.client_id, status: "duplicate", receipt_number: 4, amount: "10.00" },
  ]);
  assert.equal(posted.status, "posted");
  assert.equal(posted.amount_minor, 1000);
  assert.equal(posted.amount_recorded_minor, 9900);
  const [same] = Q.applyResults([edited], [edited.client_id], [
    { client_id: edited.client_id, status: "created", receipt_number: 5, amount: "99.00" },
  ]);
  assert.equal(same.amount_minor, 9900);
  assert.equal(same.amount_recorded_minor, undefined);
});

test("counts, today's figures on the org's day, newest first", () => {
  const y = item({ receivedAt: "2026-12-02T03:00:00.000Z", amountMinor: 1000 }); // 1 Dec local
  const t1 = item({ receivedAt: "2026-12-02T05:00:00.000Z", amountMinor: 2000 });
  const t2 = { ...item({ receivedAt: "2026-12-02T20:00:00.000Z", amountMinor: 3000 }), status: Q.POSTED };
  const q = [t1, y, t2];
  const day = Q.today(q, ZONE, new Date("2026-12-02T23:00:00Z"));
  assert.deepEqual(day, { on: "2026-12-02", count: 2, total_minor: 5000, waiting: 1, posted: 1, rejected: 0 });
  assert.deepEqual(Q.counts(q), { waiting: 2, posted: 1, rejected: 0 });
  assert.deepEqual(Q.newestFirst(q).map((i) => i.client_id), [t2.client_id, t1.client_id, y.client_id]);
});
