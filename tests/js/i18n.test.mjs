import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { t, format, sayError, setCatalog, pickLocale, loadCatalog, locale, placeholders } from "../../app/web/collect/js/i18n.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("t() substitutes Python-style placeholders in the current language", () => {
  setCatalog({ locale: "en" });
  assert.equal(t("%(n)s waiting", { n: 3 }), "3 waiting");
  assert.equal(t("Sync now"), "Sync now");
  setCatalog({ locale: "fr", ui: { "%(n)s waiting": "%(n)s en attente", "No. %(number)s": "N° %(number)s" } });
  assert.equal(locale(), "fr");
  assert.equal(t("%(n)s waiting", { n: 3 }), "3 en attente");
  assert.equal(t("No. %(number)s", { number: 123 }), "N° 123");
  assert.equal(t("Sync now"), "Sync now"); // untranslated: the English
  setCatalog({ locale: "es", ui: { "%(n)s waiting": "%(n)s pendientes", "Sync now": "" } });
  assert.equal(t("%(n)s waiting", { n: 0 }), "0 pendientes");
  assert.equal(t("Sync now"), "Sync now"); // an empty translation is none
  setCatalog({ locale: "en" });
});

test("format leaves unknown placeholders and says %% as %", () => {
  assert.equal(format("%(a)s and %(b)s", { a: 1 }), "1 and %(b)s");
  assert.equal(format("100%% of %(x)s", { x: "it" }), "100% of it");
  assert.equal(format("%(a)s%(a)s", { a: "x" }), "xx");
  assert.deepEqual(placeholders("%(a)s to %(b)s %%"), ["a", "b"]);
});

test("a problem code is said in the language, else the server's English", () => {
  const error = {
    field: "payer",
    code: "receipt_sheet.unknown_payer",
    params: { reference: "ZZ-999" },
    message: "no member or unit ZZ-999",
  };
  setCatalog({ locale: "fr", codes: { "receipt_sheet.unknown_payer": "aucun membre ni véhicule %(reference)s" } });
  assert.equal(sayError(error), "aucun membre ni véhicule ZZ-999");
  assert.equal(sayError({ ...error, code: "unknown.code" }), "no member or unit ZZ-999"); // fallback
  assert.equal(sayError({ ...error, params: {} }), "no member or unit ZZ-999"); // a parameter missing
  assert.equal(sayError({ code: "x.y", detail: "the detail" }), "the detail"); // a problem+json
  assert.equal(sayError({ code: "x.y" }), "x.y");
  setCatalog({ locale: "en", codes: { "receipt_sheet.unknown_payer": "other words %(reference)s" } });
  assert.equal(sayError(error), "no member or unit ZZ-999"); // English: the server's own words
  setCatalog({ locale: "en" });
});

test("the language: stored, else the phone's, else English", () => {
  assert.equal(pickLocale("es", ["fr-FR"]), "es");
  assert.equal(pickLocale(null, ["de-DE", "fr-CA"]), "fr");
  assert.equal(pickLocale(undefined, ["de"]), "en");
  assert.equal(pickLocale("xx", []), "en");
});

test("a catalogue that cannot be fetched leaves the English texts", async () => {
  const ok = await loadCatalog(async (url) => {
    assert.equal(url, "/collect/i18n/fr.json");
    return new Response(JSON.stringify({ locale: "fr", ui: { Save: "Enregistrer" }, codes: {} }));
  }, "fr");
  assert.deepEqual(ok.ui, { Save: "Enregistrer" });
  const offline = await loadCatalog(async () => {
    throw new TypeError("Failed to fetch");
  }, "es");
  assert.deepEqual(offline, { locale: "es", ui: {}, codes: {} });
  const missing = await loadCatalog(async () => new Response("no", { status: 404 }), "de");
  assert.equal(missing.locale, "en");
});

// every t("...") of the app is listed in app/web/collect/strings.py (the server's catalogue
// gives the "ui" map of exactly those), and nothing listed there is unused
function jsLiterals() {
  const dir = `${ROOT}app/web/collect/js/`;
  const found = new Set();
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".js"))) {
    const src = readFileSync(dir + name, "utf8").replace(/^\s*\/\/.*$/gm, ""); // not comments
    for (const m of src.matchAll(/\bt\(\s*"((?:[^"\\]|\\.)*)"/g)) found.add(JSON.parse(`"${m[1]}"`));
    // t() is only ever called with a literal, so that the list above is complete
    for (const m of src.matchAll(/(?<!function )\bt\(\s*([^\s")])/g)) assert.fail(`${name}: t() called with ${m[1]}..., not a "literal"`);
  }
  return found;
}

function pyStrings() {
  const src = readFileSync(`${ROOT}app/web/collect/strings.py`, "utf8");
  return new Set([...src.matchAll(/N_\(\s*"((?:[^"\\]|\\.)*)"\s*\)/g)].map((m) => JSON.parse(`"${m[1]}"`)));
}

test("strings.py lists every text the app passes to t(), and only those", () => {
  const used = jsLiterals();
  const listed = pyStrings();
  assert.deepEqual([...used].filter((s) => !listed.has(s)).sort(), [], "used but not listed");
  assert.deepEqual([...listed].filter((s) => !used.has(s)).sort(), [], "listed but not used");
});

test("the translations for the lead have every string in French and Spanish, same placeholders", { skip: !exists("/work/notes/tr-collect.json") }, () => {
  const tr = JSON.parse(readFileSync("/work/notes/tr-collect.json", "utf8"));
  for (const english of pyStrings()) {
    assert.ok(Array.isArray(tr[english]) && tr[english].length === 2, `no translation of ${JSON.stringify(english)}`);
    for (const said of tr[english]) {
      assert.deepEqual(placeholders(said).sort(), placeholders(english).sort(), `${english} -> ${said}`);
    }
  }
});

function exists(path) {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}
