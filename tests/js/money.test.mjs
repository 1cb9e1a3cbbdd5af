import { test } from "node:test";
import assert from "node:assert/strict";
import { exponentOf, parseAmount, formatMinor, decimalToMinor, displayMinor } from "../../app/web/collect/js/money.js";

test("exponents come from CLDR: DOP 2, XOF 0, KWD 3", () => {
  assert.equal(exponentOf("DOP"), 2);
  assert.equal(exponentOf("XOF"), 0);
  assert.equal(exponentOf("KWD"), 3);
  assert.equal(exponentOf("PKR"), 2); // the server's (Babel's) figure where ICU differs
});

test("amounts parse to integer minor units with the currency's decimals", () => {
  assert.deepEqual(parseAmount("150", 2), { ok: true, minor: 15000 });
  assert.deepEqual(parseAmount("150.5", 2), { ok: true, minor: 15050 });
  assert.deepEqual(parseAmount(" 150,50 ", 2), { ok: true, minor: 15050 }); // a decimal comma
  assert.deepEqual(parseAmount("0.01", 2), { ok: true, minor: 1 });
  assert.deepEqual(parseAmount("1.234", 3), { ok: true, minor: 1234 });
  assert.deepEqual(parseAmount("2500", 0), { ok: true, minor: 2500 });
  assert.deepEqual(parseAmount("999999999999.99", 2), { ok: true, minor: 99999999999999 });
});

test("amounts that are not exact, positive and plain are refused", () => {
  assert.equal(parseAmount("1.234", 2).error, "decimals"); // not a thousands separator
  assert.equal(parseAmount("1.234", 2).count, 2);
  assert.equal(parseAmount("10.5", 0).error, "whole");
  assert.equal(parseAmount("10.", 0).error, "whole");
  assert.equal(parseAmount("0", 2).error, "positive");
  assert.equal(parseAmount("0.00", 2).error, "positive");
  assert.equal(parseAmount("-5", 2).error, "positive");
  assert.equal(parseAmount("-0.5", 3).error, "positive");
  assert.equal(parseAmount("", 2).error, "empty");
  assert.equal(parseAmount("   ", 2).error, "empty");
  for (const bad of ["abc", "1e3", "1,234.50", "1.2.3", ".", "12a", "NaN", "Infinity", "+5"]) {
    assert.equal(parseAmount(bad, 2).ok, false, bad);
  }
  assert.equal(parseAmount("1000000000000000", 2).error, "range");
});

test("minor units format back as the API's decimal strings", () => {
  assert.equal(formatMinor(15050, 2), "150.50");
  assert.equal(formatMinor(5, 2), "0.05");
  assert.equal(formatMinor(1234, 3), "1.234");
  assert.equal(formatMinor(2500, 0), "2500");
  assert.equal(formatMinor(-5, 2), "-0.05");
  assert.equal(decimalToMinor("150.00", 2), 15000);
  assert.equal(decimalToMinor("150.5", 2), 15050);
  assert.equal(decimalToMinor("-3.25", 2), -325);
  assert.equal(decimalToMinor("1.234", 2), null);
  assert.equal(decimalToMinor("x", 2), null);
  assert.equal(displayMinor(15050, "DOP", 2, "en"), "150.50 DOP");
  assert.equal(displayMinor(2500, "XOF", 0, "en"), "2,500 XOF");
});
