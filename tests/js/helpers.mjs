// Shared by the node tests: a round, items, and a fake fetch that answers like the API.
import { newItem } from "../../app/web/collect/js/queue.js";

export const ZONE = "America/Santo_Domingo"; // UTC-4 all year

export const ROUND = [
  { kind: "unit", member_id: null, unit_id: "u-1", member_number: null, registration: "BUS-01", name: "Chofer 1", due_today: "55.00", arrears: "110.00", paid_through: "2026-11-30" },
  { kind: "member", member_id: "m-1", unit_id: null, member_number: "S-001", registration: null, name: "María Pérez", due_today: "0.00", arrears: "0.00", paid_through: null },
];

let n = 0;
export function item(overrides = {}) {
  n += 1;
  return newItem({
    clientId: overrides.clientId || `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    round: ROUND,
    payer: overrides.payer || "BUS-01",
    amountMinor: overrides.amountMinor || 5500,
    currency: "DOP",
    receivedAt: overrides.receivedAt || "2026-12-02T14:00:00.000Z",
    channel: overrides.channel || "cash",
    reference: overrides.reference,
  });
}

export function json(status, body, headers = {}) {
  return new Response(body == null ? "" : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

// fetch(url, init) answered by `handler({method, path, body, headers})`, which returns a
// Response or throws (a network error); every call is recorded.
export function fakeFetch(handler) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const call = {
      method: init.method || "GET",
      path: url.replace(/^\/api\/v1/, ""),
      headers: init.headers || {},
      body: init.body && init.headers?.["Content-Type"] === "application/json" ? JSON.parse(init.body) : init.body,
    };
    calls.push(call);
    return handler(call);
  };
  fn.calls = calls;
  return fn;
}

// The server's answer to a sheet: every item created with a number, except `reject` and
// client ids already seen (duplicate).
export function sheetServer({ reject = new Set(), seen = new Map(), next = { number: 1 } } = {}) {
  return (call) => {
    const results = call.body.receipts.map((r) => {
      if (reject.has(r.client_id) || reject.has(r.payer)) {
        return {
          client_id: r.client_id,
          status: "rejected",
          errors: [{ field: "payer", message: `no member or unit ${r.payer}`, code: "receipt_sheet.unknown_payer", params: { reference: r.payer } }],
        };
      }
      if (seen.has(r.client_id)) return { client_id: r.client_id, status: "duplicate", receipt_id: `r-${seen.get(r.client_id)}`, receipt_number: seen.get(r.client_id) };
      const number = next.number++;
      seen.set(r.client_id, number);
      return {
        client_id: r.client_id,
        status: "created",
        receipt_id: `r-${number}`,
        receipt_number: number,
        periods: [{ period_start: "2026-12-01", period_end: "2026-12-01", amount: r.amount }],
      };
    });
    const count = (s) => results.filter((x) => x.status === s).length;
    return json(200, { results, created: count("created"), duplicates: count("duplicate"), rejected: count("rejected") });
  };
}
