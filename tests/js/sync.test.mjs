import { test } from "node:test";
import assert from "node:assert/strict";
import * as Q from "../../app/web/collect/js/queue.js";
import { createApi, runSync, signIn, signInWithKey, send, backoffDelay, retryable, Syncer } from "../../app/web/collect/js/sync.js";
import { createStore, memoryBackend, dataKey } from "../../app/web/collect/js/store.js";
import { ZONE, ROUND, item, json, fakeFetch, sheetServer } from "./helpers.mjs";

const ME = {
  id: "c-1",
  name: "cobra",
  currency: "DOP",
  cash_balance: "0.00",
  organisation: { code: "AMUSSOL", name: "Cooperativa AMUSSOL", currency: "DOP", time_zone: ZONE },
  today: { on: "2026-12-02", receipts: 0, total: "0.00" },
  last_handover: null,
};

// the API: sheets answered by `sheets`, the collector and the round as they are
function api(sheets, { me = () => json(200, ME), round = () => json(200, { as_of: "2026-12-02", currency: "DOP", items: ROUND }) } = {}) {
  return fakeFetch((call) => {
    if (call.path === "/collection-sheets") return sheets(call);
    if (call.path === "/collectors/me") return me(call);
    if (call.path === "/collectors/me/round") return round(call);
    if (call.path === "/auth/token") return json(200, { access_token: "tok", token_type: "bearer", expires_in: 3600 });
    return json(404, { code: "not_found" });
  });
}

function holder(queue) {
  const box = { queue, sets: 0 };
  return Object.assign(box, {
    getQueue: () => box.queue,
    setQueue: (q) => {
      box.queue = q;
      box.sets += 1;
    },
  });
}

const noSleep = async () => {};

function sync(fetchFn, box, extra = {}) {
  return runSync({
    api: createApi(fetchFn, { token: "tok" }),
    getQueue: box.getQueue,
    setQueue: box.setQueue,
    timeZone: ZONE,
    exponent: 2,
    sleep: noSleep,
    random: () => 0.5,
    ...extra,
  });
}

test("a sync sends one sheet per day and chunk, bearer token and JSON, and posts what the server created", async () => {
  const items = [];
  for (let i = 0; i < 205; i++) items.push(item({ receivedAt: new Date(Date.UTC(2026, 11, 2, 12, 0, i)).toISOString() }));
  items.push(item({ receivedAt: "2026-12-02T03:00:00.000Z", payer: "ZZ-9" })); // 1 Dec in Santo Domingo
  const box = holder(items);
  const f = api(sheetServer({ reject: new Set(["ZZ-9"]) }));
  const out = await sync(f, box);
  assert.equal(out.state, "ok");
  const sheets = f.calls.filter((c) => c.path === "/collection-sheets");
  assert.deepEqual(sheets.map((c) => [c.body.collected_on, c.body.receipts.length]), [
    ["2026-12-01", 1],
    ["2026-12-02", 200],
    ["2026-12-02", 5],
  ]);
  assert.equal(sheets[0].method, "POST");
  assert.equal(sheets[0].headers.Authorization, "Bearer tok");
  assert.equal(sheets[0].headers["Content-Type"], "application/json");
  assert.deepEqual(Q.counts(box.queue), { waiting: 0, posted: 205, rejected: 1 });
  assert.equal(out.posted, 205);
  assert.equal(out.rejected, 1);
  // then the collector and the round, fresh
  assert.deepEqual(f.calls.slice(-2).map((c) => c.path), ["/collectors/me", "/collectors/me/round"]);
  assert.equal(out.me.id, "c-1");
  assert.equal(out.round.items.length, 2);
  const bad = box.queue.find((i) => i.status === "rejected");
  assert.equal(bad.errors[0].code, "receipt_sheet.unknown_payer");
  assert.equal(bad.payer_ref, "ZZ-9");
});

test("an answer lost on the way back leaves the items waiting; the next sync sends the same ids and the server's duplicate posts them", async () => {
  const seen = new Map();
  const server = sheetServer({ seen });
  let lose = true;
  const f = api((call) => {
    const answer = server(call); // the server did the work...
    if (lose) throw new TypeError("Failed to fetch"); // ...the answer never arrives
    return answer;
  });
  const box = holder([item(), item(), item()]);
  const ids = box.queue.map((i) => i.client_id);
  const first = await sync(f, box, { attempts: 1 });
  assert.equal(first.state, "offline");
  assert.deepEqual(Q.counts(box.queue), { waiting: 3, posted: 0, rejected: 0 });
  assert.equal(seen.size, 3);

  lose = false;
  const second = await sync(f, box);
  assert.equal(second.state, "ok");
  const sent = f.calls.filter((c) => c.path === "/collection-sheets").map((c) => c.body.receipts.map((r) => r.client_id));
  assert.deepEqual(sent, [ids, ids]); // the same client ids again
  assert.deepEqual(Q.counts(box.queue), { waiting: 0, posted: 3, rejected: 0 });
  assert.deepEqual(box.queue.map((i) => i.receipt_number), [1, 2, 3]);
});

test("network errors and 5xx are retried with backoff, then the sync stops with the items waiting", async () => {
  const waits = [];
  const sleep = async (ms) => void waits.push(ms);
  let calls = 0;
  const flaky = api((call) => {
    calls += 1;
    if (calls === 1) return Promise.reject(new TypeError("Failed to fetch"));
    if (calls === 2) return json(503, { detail: "busy" });
    return sheetServer()(call);
  });
  const box = holder([item()]);
  const ok = await sync(flaky, box, { sleep, attempts: 3 });
  assert.equal(ok.state, "ok");
  assert.deepEqual(waits, [750, 1500]); // about 1 s then 2 s (jitter 0.5 -> x0.75)
  assert.equal(box.queue[0].status, "posted");

  const box2 = holder([item()]);
  waits.length = 0;
  const down = await sync(api(() => json(500, { detail: "oops" })), box2, { sleep, attempts: 3 });
  assert.equal(down.state, "failed");
  assert.equal(down.problem.status, 500);
  assert.equal(waits.length, 2);
  assert.equal(box2.queue[0].status, "waiting");
});

test("backoff grows and is capped; retryable statuses", () => {
  assert.equal(backoffDelay(0, { random: () => 1 }), 1000);
  assert.equal(backoffDelay(3, { random: () => 1 }), 8000);
  assert.equal(backoffDelay(10, { random: () => 1 }), 30000);
  assert.equal(backoffDelay(2, { random: () => 0 }), 2000);
  assert.deepEqual([408, 429, 500, 503, 400, 401, 403, 409, 422].map(retryable), [true, true, true, true, false, false, false, false, false]);
});

test("429 waits what Retry-After says", async () => {
  const waits = [];
  let n = 0;
  const f = api((call) => (++n === 1 ? json(429, { detail: "slow down" }, { "Retry-After": "7" }) : sheetServer()(call)));
  const out = await sync(f, holder([item()]), { sleep: async (ms) => void waits.push(ms) });
  assert.equal(out.state, "ok");
  assert.deepEqual(waits, [7000]);
});

test("401 stops the sync signed out with the queue kept; the store keeps it for after sign-in", async () => {
  const backend = memoryBackend();
  const store = createStore(backend);
  const key = dataKey("amussol", "c-1");
  assert.equal(key, "AMUSSOL:c-1");
  const box = holder([item(), item()]);
  store.setSession({ token: "old", key, organisation: "amussol", username: "cobra" });
  store.saveData(key, { queue: box.queue, me: ME, round: null, last_sync: null });

  const f = api(() => json(401, { code: "auth.token_expired", detail: "expired" }));
  const out = await sync(f, box);
  assert.equal(out.state, "signed_out");
  assert.equal(f.calls.length, 1); // nothing more once signed out
  assert.deepEqual(Q.counts(box.queue), { waiting: 2, posted: 0, rejected: 0 });

  store.signOut();
  assert.equal(store.session(), null);
  assert.deepEqual(store.last(), { organisation: "amussol", username: "cobra", key });
  assert.equal(store.data(key).queue.length, 2); // kept

  // a 401 on the collector's refresh is signed out too
  const f2 = api(sheetServer(), { me: () => json(401, {}) });
  assert.equal((await sync(f2, holder([item()]))).state, "signed_out");
});

test("another collector on the same phone never sees the first one's queue", () => {
  const store = createStore(memoryBackend());
  store.saveData(dataKey("AMUSSOL", "c-1"), { queue: [item()] });
  assert.equal(store.data(dataKey("AMUSSOL", "c-2")).queue.length, 0);
  assert.equal(store.data(dataKey("OTHER", "c-1")).queue.length, 0);
  assert.equal(store.data(dataKey("amussol", "c-1")).queue.length, 1);
});

test("403 stops with the problem; another 4xx rejects that sheet's items with its reason and goes on", async () => {
  const f = api(() => json(403, { code: "auth.role_needed", detail: "collectors only" }));
  const box = holder([item()]);
  const out = await sync(f, box);
  assert.equal(out.state, "forbidden");
  assert.equal(out.problem.code, "auth.role_needed");
  assert.equal(box.queue[0].status, "waiting");

  const early = item({ receivedAt: "2026-12-01T12:00:00.000Z" });
  const late = item({ receivedAt: "2026-12-02T12:00:00.000Z" });
  const box2 = holder([early, late]);
  const f2 = api((call) => (call.body.collected_on === "2026-12-01" ? json(422, { code: "field.too_early", params: { day: "2026-12-02" }, detail: "must not be before 2026-12-02" }) : sheetServer()(call)));
  const out2 = await sync(f2, box2);
  assert.equal(out2.state, "ok");
  const [a, b] = box2.queue;
  assert.equal(a.status, "rejected");
  assert.deepEqual(a.errors[0], { field: "sheet", code: "field.too_early", params: { day: "2026-12-02" }, message: "must not be before 2026-12-02" });
  assert.equal(b.status, "posted");
});

test("the sheets' refusal by the network still refreshes the round (best effort)", async () => {
  const f = api(() => Promise.reject(new TypeError("Failed to fetch")));
  const out = await sync(f, holder([item()]), { attempts: 2 });
  assert.equal(out.state, "offline");
  assert.equal(out.round.items.length, 2);
});

test("an item edited or being edited during a sync: the sheet takes it as it is now, or holds it back", async () => {
  const [a, b, c] = [item(), item(), item()];
  const box = holder([a, b, c]);
  // b is being edited (held back); a changed after the plan was made
  let planned = false;
  const getQueue = () => {
    if (!planned) {
      planned = true;
      return box.queue;
    }
    return box.queue.map((i) => (i.client_id === a.client_id ? { ...i, amount_minor: 9900 } : i));
  };
  const f = api(sheetServer());
  await runSync({
    api: createApi(f, { token: "tok" }),
    getQueue,
    setQueue: box.setQueue,
    timeZone: ZONE,
    exponent: 2,
    sleep: noSleep,
    skip: () => new Set([b.client_id]),
  });
  const sent = f.calls.find((x) => x.path === "/collection-sheets").body.receipts;
  assert.deepEqual(sent.map((r) => r.client_id), [a.client_id, c.client_id]);
  assert.equal(sent[0].amount, "99.00");
});

test("the sending hook names the items on their way", async () => {
  const seen = [];
  const box = holder([item(), item()]);
  await sync(api(sheetServer()), box, { onSending: (ids) => seen.push(ids.length) });
  assert.deepEqual(seen, [2, 0]);
});

test("sign-in: the token as a form, then the collector; refusals keep the problem", async () => {
  const f = api(sheetServer());
  const ok = await signIn(f, { organisation: "AMUSSOL", username: "cobra", password: "pw" });
  assert.equal(ok.ok, true);
  assert.equal(ok.token, "tok");
  assert.equal(ok.me.id, "c-1");
  assert.equal(f.calls[0].headers["Content-Type"], "application/x-www-form-urlencoded");
  assert.equal(f.calls[0].body, "organisation=AMUSSOL&username=cobra&password=pw");
  assert.equal(f.calls[1].headers.Authorization, "Bearer tok");

  const wrong = await signIn(fakeFetch(() => json(401, { code: "auth.wrong_password", detail: "wrong username or password" })), { organisation: "A", username: "u", password: "p" });
  assert.deepEqual(wrong, { ok: false, problem: { status: 401, code: "auth.wrong_password", params: null, detail: "wrong username or password" } });
  const notCollector = await signIn(api(sheetServer(), { me: () => json(403, { code: "auth.role", detail: "collectors only" }) }), { organisation: "A", username: "u", password: "p" });
  assert.equal(notCollector.problem.status, 403);
  const offline = await signIn(fakeFetch(() => Promise.reject(new TypeError("Failed to fetch"))), { organisation: "A", username: "u", password: "p" });
  assert.deepEqual(offline, { ok: false, problem: { status: 0 } });
});

test("sign-in with an API key: the key is the token; a key that is not a collector's is refused", async () => {
  const f = api(sheetServer());
  const ok = await signInWithKey(f, "clk_abc");
  assert.equal(ok.ok, true);
  assert.equal(ok.token, "clk_abc");
  assert.equal(ok.expiresIn, null);
  assert.equal(ok.me.id, "c-1");
  assert.equal(f.calls.length, 1);
  assert.equal(f.calls[0].headers.Authorization, "Bearer clk_abc");
  const unknown = await signInWithKey(fakeFetch(() => json(401, { code: "auth.unknown_key", detail: "unknown API key" })), "clk_x");
  assert.deepEqual(unknown, { ok: false, problem: { status: 401, code: "auth.unknown_key", params: null, detail: "unknown API key" } });
  const offline = await signInWithKey(fakeFetch(() => Promise.reject(new TypeError("Failed to fetch"))), "clk_x");
  assert.deepEqual(offline, { ok: false, problem: { status: 0 } });
});

test("send: a 2xx that is not JSON is a failure, retried", async () => {
  let n = 0;
  const f = fakeFetch(() => (++n === 1 ? new Response("<html>", { status: 200 }) : json(200, { ok: true })));
  const r = await send(createApi(f), "GET", "/x", {}, { attempts: 2, sleep: noSleep });
  assert.equal(r.kind, "ok");
  assert.equal(n, 2);
});

test("one sync at a time: a request during a sync runs one more after it", async () => {
  let runs = 0;
  let release;
  const syncer = new Syncer(async () => {
    runs += 1;
    if (runs === 1) await new Promise((r) => (release = r));
    return { state: "ok" };
  });
  const p1 = syncer.request();
  assert.equal(syncer.busy, true);
  const p2 = syncer.request();
  const p3 = syncer.request();
  assert.equal(p1, p2);
  assert.equal(p2, p3);
  release();
  await p1;
  assert.equal(runs, 2); // the first, then one more for the requests made meanwhile
  assert.equal(syncer.busy, false);
  await syncer.request();
  assert.equal(runs, 3);
});
