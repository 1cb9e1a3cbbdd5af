// The service worker caches the whole shell, and its cache's name changes with the shell
// (otherwise phones keep the old files); the first load stays small.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const DIR = fileURLToPath(new URL("../../app/web/collect/", import.meta.url));
const NOT_SHELL = new Set(["sw.js", "strings.py", "__init__.py", "__pycache__"]);
const SW = readFileSync(DIR + "sw.js", "utf8");

function files(dir = DIR, prefix = "") {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (NOT_SHELL.has(name)) continue;
    const path = dir + name;
    if (statSync(path).isDirectory()) out.push(...files(path + "/", prefix + name + "/"));
    else out.push(prefix + name);
  }
  return out;
}

const url = (file) => (file === "index.html" ? "/collect/" : `/collect/${file}`);

// the cache's name: "collect-" and the first 8 hex digits of the shell's SHA-256
export function shellVersion() {
  const hash = createHash("sha256");
  for (const file of files()) {
    hash.update(file + "\0");
    hash.update(readFileSync(DIR + file));
    hash.update("\0");
  }
  return "collect-" + hash.digest("hex").slice(0, 8);
}

test("the service worker precaches every file of the shell", () => {
  const listed = [...SW.matchAll(/"(\/collect\/[^"]*)"/g)].map((m) => m[1]);
  for (const file of files()) assert.ok(listed.includes(url(file)), `sw.js does not cache ${url(file)}`);
  for (const lang of ["en", "fr", "es"]) assert.ok(listed.includes(`/collect/i18n/${lang}.json`));
  assert.match(SW, /pathname\.startsWith\("\/api\/"\)\) return/); // the API: network only
});

test("the cache's version follows the shell's content", () => {
  const version = /const VERSION = "([^"]+)"/.exec(SW)[1];
  const expected = shellVersion();
  assert.equal(version, expected, `the shell changed: set VERSION = "${expected}" in app/web/collect/sw.js`);
});

test("the first load is small", () => {
  const shell = files().filter((f) => /\.(html|css|js)$/.test(f));
  const raw = Buffer.concat(shell.map((f) => readFileSync(DIR + f)));
  assert.ok(raw.length < 72 * 1024, `${raw.length} bytes of HTML, CSS and JS`);
  assert.ok(gzipSync(raw).length < 25 * 1024, `${gzipSync(raw).length} bytes compressed`);
});

test("the manifest: installable, scoped to /collect/, with its icons", () => {
  const manifest = JSON.parse(readFileSync(DIR + "manifest.webmanifest", "utf8"));
  assert.equal(manifest.start_url, "/collect/");
  assert.equal(manifest.scope, "/collect/");
  assert.equal(manifest.display, "standalone");
  const sizes = manifest.icons.map((i) => i.sizes);
  assert.ok(sizes.includes("192x192") && sizes.includes("512x512") && sizes.includes("any"));
  for (const icon of manifest.icons) {
    const data = readFileSync(DIR + icon.src.replace("/collect/", ""));
    if (icon.type === "image/png") {
      assert.equal(data.subarray(1, 4).toString(), "PNG");
      const [w, h] = [data.readUInt32BE(16), data.readUInt32BE(20)];
      assert.equal(`${w}x${h}`, icon.sizes);
    }
  }
});

test("the shell loads its script as a module, with no inline script or style", () => {
  const html = readFileSync(DIR + "index.html", "utf8");
  assert.match(html, /<script type="module" src="\/collect\/js\/app\.js"><\/script>/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.doesNotMatch(html, /\sstyle=|<style/);
  assert.match(html, /rel="manifest" href="\/collect\/manifest\.webmanifest"/);
});
