// Talking to the API and the sync loop. No DOM: fetch, the queue's getter/setter and sleep are
// given, so node tests drive it with a fake fetch.
//
// A sync sends the waiting items as sheets (queue.sheets), one request per chunk. Network
// errors, 408, 429 and 5xx are retried with backoff, then the sync stops: what was not answered
// stays waiting and is sent again later with the same client_id (the server answers duplicate).
// 401 stops with state "signed_out" (the queue is kept); 403 with "forbidden"; another 4xx
// rejects that chunk's items with the problem's reason. Then /collectors/me and the round are
// fetched again (best effort).

import { WAITING, sheets, sheetBody, applyResults, rejectAll } from "./queue.js";

export class NetworkError extends Error {}

export function createApi(fetchFn, { base = "/api/v1", token = null } = {}) {
  async function request(method, path, { json, form } = {}) {
    const headers = { Accept: "application/json" };
    let body;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    let res;
    try {
      res = await fetchFn(base + path, { method, headers, body, cache: "no-store" });
    } catch (err) {
      throw new NetworkError(String(err && err.message ? err.message : err));
    }
    let data = null;
    try {
      const text = await res.text();
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    const retryAfter = res.headers && typeof res.headers.get === "function" ? res.headers.get("Retry-After") : null;
    return { status: res.status, ok: res.status >= 200 && res.status < 300, body: data, retryAfter };
  }
  return { request, token };
}

export function retryable(status) {
  return status === 408 || status === 429 || status >= 500;
}

// Exponential backoff with jitter: about 1 s, 2 s, 4 s ... at most `cap`.
export function backoffDelay(attempt, { base = 1000, cap = 30000, random = Math.random } = {}) {
  const full = Math.min(cap, base * 2 ** attempt);
  return Math.round(full * (0.5 + random() / 2));
}

function problemOf(answer) {
  const b = answer.body && typeof answer.body === "object" ? answer.body : {};
  return { status: answer.status, code: b.code || null, params: b.params || null, detail: b.detail || b.title || null };
}

// One request, retried on network errors and retryable statuses.
// -> {kind: "ok", answer} | {kind: "offline"} | {kind: "failed", problem} | {kind: "signed_out"}
//    | {kind: "forbidden", problem} | {kind: "refused", problem}
export async function send(api, method, path, options, { attempts = 3, sleep, random = Math.random } = {}) {
  let last = { kind: "offline" };
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) {
      let wait = backoffDelay(attempt - 1, { random });
      if (last.retryAfter && /^\d+$/.test(last.retryAfter)) wait = Math.min(30000, Number(last.retryAfter) * 1000);
      await sleep(wait);
    }
    let answer;
    try {
      answer = await api.request(method, path, options);
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      last = { kind: "offline" };
      continue;
    }
    if (answer.status === 401) return { kind: "signed_out" };
    if (answer.ok) {
      if (answer.body && typeof answer.body === "object") return { kind: "ok", answer };
      last = { kind: "failed", problem: problemOf(answer) }; // a 2xx that is not our JSON
      continue;
    }
    if (retryable(answer.status)) {
      last = { kind: "failed", problem: problemOf(answer), retryAfter: answer.retryAfter };
      continue;
    }
    if (answer.status === 403) return { kind: "forbidden", problem: problemOf(answer) };
    return { kind: "refused", problem: problemOf(answer) };
  }
  return last;
}

const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One sync. Returns {state, problem?, me?, round?, posted, rejected}; state is
// "ok" | "offline" | "failed" | "signed_out" | "forbidden".
export async function runSync({
  api,
  getQueue,
  setQueue,
  timeZone,
  exponent,
  sleep = realSleep,
  attempts = 3,
  random = Math.random,
  onSending = () => {},
  skip = () => new Set(),
  refresh = true,
}) {
  const opts = { attempts, sleep, random };
  const out = { state: "ok", posted: 0, rejected: 0, problem: null, me: null, round: null };
  for (const planned of sheets(getQueue(), timeZone, { skip: skip() })) {
    // the items as they are now: one edited meanwhile goes as edited, one being edited waits
    const now = new Map(getQueue().map((i) => [i.client_id, i]));
    const held = skip();
    const items = planned.items
      .map((i) => now.get(i.client_id))
      .filter((i) => i && i.status === WAITING && !held.has(i.client_id));
    if (!items.length) continue;
    const sheet = { collected_on: planned.collected_on, items };
    const ids = items.map((i) => i.client_id);
    onSending(ids);
    let r;
    try {
      r = await send(api, "POST", "/collection-sheets", { json: sheetBody(sheet, exponent) }, opts);
    } finally {
      onSending([]);
    }
    if (r.kind === "ok") {
      const results = Array.isArray(r.answer.body.results) ? r.answer.body.results : [];
      for (const res of results) {
        if (res && (res.status === "created" || res.status === "duplicate")) out.posted += 1;
        if (res && res.status === "rejected") out.rejected += 1;
      }
      setQueue(applyResults(getQueue(), ids, results));
    } else if (r.kind === "refused") {
      out.rejected += ids.length;
      setQueue(rejectAll(getQueue(), ids, r.problem));
    } else {
      out.state = r.kind;
      out.problem = r.problem || null;
      break;
    }
  }
  if (out.state === "signed_out" || out.state === "forbidden" || !refresh) return out;
  // the collector and the round, even when the sheets could not go (best effort)
  const me = await send(api, "GET", "/collectors/me", {}, { ...opts, attempts: 1 });
  if (me.kind === "signed_out") return { ...out, state: "signed_out" };
  if (me.kind === "ok") out.me = me.answer.body;
  if (me.kind === "offline") return { ...out, state: out.state === "ok" ? "offline" : out.state };
  const round = await send(api, "GET", "/collectors/me/round", {}, { ...opts, attempts: 1 });
  if (round.kind === "signed_out") return { ...out, state: "signed_out" };
  if (round.kind === "ok") out.round = round.answer.body;
  return out;
}

// Sign in: the token, then the collector. -> {ok: true, token, expiresIn, me} or
// {ok: false, problem} (problem.status 0: no network).
export async function signIn(fetchFn, { organisation, username, password }) {
  const anon = createApi(fetchFn);
  let answer;
  try {
    answer = await anon.request("POST", "/auth/token", { form: { organisation, username, password } });
  } catch (err) {
    if (err instanceof NetworkError) return { ok: false, problem: { status: 0 } };
    throw err;
  }
  if (!answer.ok || !answer.body || !answer.body.access_token) return { ok: false, problem: problemOf(answer) };
  const token = answer.body.access_token;
  const api = createApi(fetchFn, { token });
  let me;
  try {
    me = await api.request("GET", "/collectors/me");
  } catch (err) {
    if (err instanceof NetworkError) return { ok: false, problem: { status: 0 } };
    throw err;
  }
  if (!me.ok || !me.body || !me.body.id) return { ok: false, problem: problemOf(me) };
  return { ok: true, token, expiresIn: answer.body.expires_in, me: me.body };
}

// Sign in with an API key made for the collector (role collector): the key is the bearer
// token itself (it does not expire; revoked, it answers 401 like an expired token).
export async function signInWithKey(fetchFn, key) {
  const api = createApi(fetchFn, { token: key });
  let me;
  try {
    me = await api.request("GET", "/collectors/me");
  } catch (err) {
    if (err instanceof NetworkError) return { ok: false, problem: { status: 0 } };
    throw err;
  }
  if (!me.ok || !me.body || !me.body.id) return { ok: false, problem: problemOf(me) };
  return { ok: true, token: key, expiresIn: null, me: me.body };
}

// One sync at a time: a request while one runs asks for another run after it (so an item
// saved during a sync is sent too) and answers with that run's promise.
export class Syncer {
  constructor(run) {
    this.run = run;
    this.current = null;
    this.again = false;
  }

  get busy() {
    return this.current !== null;
  }

  request() {
    if (this.current) {
      this.again = true;
      return this.current;
    }
    this.current = (async () => {
      let result;
      do {
        this.again = false;
        result = await this.run();
      } while (this.again && result && result.state === "ok");
      return result;
    })().finally(() => {
      this.current = null;
    });
    return this.current;
  }
}
