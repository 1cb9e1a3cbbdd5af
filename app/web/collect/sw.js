// The collector app's service worker (scope /collect/): the shell cache-first from a versioned
// cache filled at install, the language files stale-while-revalidate, /api/ never touched
// (network only). VERSION changes whenever a shell file changes (tests/js/sw.test.mjs checks it).

const VERSION = "collect-d0187814";
const SHELL = [
  "/collect/",
  "/collect/app.css",
  "/collect/manifest.webmanifest",
  "/collect/icon.svg",
  "/collect/icon-192.png",
  "/collect/icon-512.png",
  "/collect/js/app.js",
  "/collect/js/i18n.js",
  "/collect/js/money.js",
  "/collect/js/queue.js",
  "/collect/js/slip.js",
  "/collect/js/store.js",
  "/collect/js/sync.js",
];
const LANGUAGES = ["/collect/i18n/en.json", "/collect/i18n/fr.json", "/collect/i18n/es.json"];
const PAGES = new Set(["/collect", "/collect/", "/collect/index.html"]);

// a response kept for later: never a redirected one (a navigation cannot be answered with it)
async function keepable(res) {
  if (!res.redirected) return res;
  return new Response(await res.blob(), { status: res.status, statusText: res.statusText, headers: res.headers });
}

async function fill(cache, url) {
  const res = await fetch(new Request(url, { cache: "no-cache" })); // revalidated: a 304 when the page just had it
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  await cache.put(url, await keepable(res));
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(VERSION);
      await Promise.all(SHELL.map((url) => fill(cache, url)));
      await Promise.all(LANGUAGES.map((url) => fill(cache, url).catch(() => {})));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("collect-") && name !== VERSION) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

async function shell(request, key) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(key);
  if (hit) return hit;
  try {
    const res = await fetch(request);
    if (res.ok) await cache.put(key, await keepable(res.clone()));
    return res;
  } catch (err) {
    return Response.error();
  }
}

async function language(event, key) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(key);
  const fresh = fetch(key, { cache: "no-cache" })
    .then(async (res) => {
      if (res.ok) await cache.put(key, await keepable(res.clone()));
      return res;
    })
    .catch(() => null);
  if (hit) {
    event.waitUntil(fresh);
    return hit;
  }
  return (await fresh) || Response.error();
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // network only
  if (PAGES.has(url.pathname)) {
    event.respondWith(shell(request, "/collect/"));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(shell(request, url.pathname));
  } else if (LANGUAGES.includes(url.pathname)) {
    event.respondWith(language(event, url.pathname));
  }
});
