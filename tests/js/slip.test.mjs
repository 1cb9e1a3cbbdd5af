import { test } from "node:test";
import assert from "node:assert/strict";
import { slipLines, slipText, channelLabel, day } from "../../app/web/collect/js/slip.js";
import { setCatalog } from "../../app/web/collect/js/i18n.js";
import * as Q from "../../app/web/collect/js/queue.js";
import { ZONE, item } from "./helpers.mjs";

const CONTEXT = { organisation: "Cooperativa AMUSSOL", timeZone: ZONE, collector: "cobra", locale: "en", exponent: 2 };

test("a posted receipt's slip: organisation, number, payer, amount, periods, local date and time, collector", () => {
  setCatalog({ locale: "en" });
  const waiting = item({ receivedAt: "2026-12-02T03:30:00.000Z", amountMinor: 16500, reference: "MM-1" });
  const [posted] = Q.applyResults([waiting], [waiting.client_id], [
    {
      client_id: waiting.client_id,
      status: "created",
      receipt_number: 123,
      periods: [
        { period_start: "2026-11-30", period_end: "2026-11-30", amount: "110.00" },
        { period_start: "2026-12-01", period_end: "2026-12-01", amount: "55.00" },
      ],
    },
  ]);
  assert.deepEqual(slipLines(posted, CONTEXT), [
    "Cooperativa AMUSSOL",
    "Receipt No. 123",
    "Payer: Chofer 1 (BUS-01)",
    "Amount: 165.00 DOP",
    "Channel: Cash",
    "Reference: MM-1",
    "Periods paid:",
    "Nov 30, 2026 to Nov 30, 2026: 110.00 DOP",
    "Dec 1, 2026 to Dec 1, 2026: 55.00 DOP",
    "Date: Dec 1, 2026, 11:30 PM", // the organisation's time, not UTC
    "Collector: cobra",
  ]);
  assert.match(slipText(waiting, CONTEXT), /^Cooperativa AMUSSOL\nProvisional receipt \(not yet posted\)\n/);
});

test("the slip in French", () => {
  setCatalog({
    locale: "fr",
    ui: { "Receipt No. %(number)s": "Reçu N° %(number)s", "Amount: %(amount)s": "Montant : %(amount)s", Cash: "Espèces", "Channel: %(channel)s": "Canal : %(channel)s" },
  });
  const [posted] = Q.applyResults([item({ amountMinor: 123456 })], [], []).map((i) => ({ ...i, status: Q.POSTED, receipt_number: 7 }));
  const lines = slipLines(posted, { ...CONTEXT, locale: "fr" });
  assert.equal(lines[1], "Reçu N° 7");
  assert.equal(lines[3].replace(/\s/g, " "), "Montant : 1 234,56 DOP");
  assert.equal(lines[4], "Canal : Espèces");
  assert.equal(channelLabel("mobile_money"), "Mobile money");
  assert.equal(day("2026-11-30", "fr"), "30 nov. 2026");
  setCatalog({ locale: "en" });
});
