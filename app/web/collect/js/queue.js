// The receipts recorded on this phone: pure functions over a list (no DOM, no storage).
// An item is "waiting" (to be sent), "posted" (the server created it, or had it: duplicate)
// or "rejected" (with the server's errors). Only waiting and rejected items can be edited or
// deleted; an edit keeps the client_id and puts the item back to waiting.

import { formatMinor, decimalToMinor, exponentOf, parseAmount } from "./money.js";

export const WAITING = "waiting";
export const POSTED = "posted";
export const REJECTED = "rejected";
export const CHUNK = 200;

export class QueueError extends Error {}

// Payer references compare without case, spaces or dashes ("dop 001" is "DOP-001").
export function normalizeRef(text) {
  return String(text ?? "").toUpperCase().replace(/[\s\-‐-―]/g, "");
}

export function roundRef(entry) {
  return entry.member_number || entry.registration || "";
}

export function findPayer(round, text) {
  const key = normalizeRef(text);
  if (!key) return null;
  return (round || []).find((e) => normalizeRef(roundRef(e)) === key) || null;
}

// What is owed now by a payer of the round, in minor units (due today + arrears).
export function owed(entry, exponent) {
  const due = decimalToMinor(entry.due_today, exponent) || 0;
  const arrears = decimalToMinor(entry.arrears, exponent) || 0;
  return due + arrears;
}

// The payer fields of an item: resolved to an id when the round has it, else the typed text.
export function payerFields(round, text) {
  const entry = findPayer(round, text);
  if (entry) {
    return {
      member_id: entry.member_id || null,
      unit_id: entry.member_id ? null : entry.unit_id || null,
      payer_ref: roundRef(entry),
      payer_name: entry.name || null,
      in_round: true,
    };
  }
  return {
    member_id: null,
    unit_id: null,
    payer_ref: String(text ?? "").trim(),
    payer_name: null,
    in_round: false,
  };
}

export function newItem({ clientId, round, payer, amountMinor, currency, receivedAt, channel, reference }) {
  if (!clientId) throw new QueueError("client id needed");
  if (!normalizeRef(payer)) throw new QueueError("payer needed");
  if (!(Number.isInteger(amountMinor) && amountMinor > 0)) throw new QueueError("amount must be positive");
  return {
    client_id: clientId,
    ...payerFields(round, payer),
    amount_minor: amountMinor,
    currency,
    received_at: receivedAt,
    channel: channel || "cash",
    reference: (reference || "").trim() || null,
    status: WAITING,
    receipt_id: null,
    receipt_number: null,
    periods: null,
    errors: null,
  };
}

export function addItem(queue, item) {
  if (queue.some((i) => i.client_id === item.client_id)) throw new QueueError("client id already used");
  return [...queue, item];
}

export function editable(item) {
  return !!item && (item.status === WAITING || item.status === REJECTED);
}

function find(queue, clientId) {
  const item = queue.find((i) => i.client_id === clientId);
  if (!item) throw new QueueError("no such receipt");
  if (!editable(item)) throw new QueueError("a posted receipt cannot be changed");
  return item;
}

// Change the payer, amount, channel or reference; the item goes back to waiting.
export function editItem(queue, clientId, { round, payer, amountMinor, channel, reference }) {
  const item = find(queue, clientId);
  const changed = { ...item, status: WAITING, errors: null };
  if (payer !== undefined) {
    if (!normalizeRef(payer)) throw new QueueError("payer needed");
    Object.assign(changed, payerFields(round, payer));
  }
  if (amountMinor !== undefined) {
    if (!(Number.isInteger(amountMinor) && amountMinor > 0)) throw new QueueError("amount must be positive");
    changed.amount_minor = amountMinor;
  }
  if (channel !== undefined) changed.channel = channel;
  if (reference !== undefined) changed.reference = (reference || "").trim() || null;
  return queue.map((i) => (i.client_id === clientId ? changed : i));
}

export function deleteItem(queue, clientId) {
  find(queue, clientId);
  return queue.filter((i) => i.client_id !== clientId);
}

// The organisation's calendar day (YYYY-MM-DD) of an instant.
const dayFormats = new Map();

export function localDate(instant, timeZone) {
  const zone = timeZone || "UTC";
  if (!dayFormats.has(zone)) {
    dayFormats.set(zone, new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }));
  }
  const parts = dayFormats.get(zone).formatToParts(new Date(instant));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// The waiting items as sheets: grouped by collected_on (oldest day first), each group in
// chunks of at most `size` items, in the order they were received.
export function sheets(queue, timeZone, { size = CHUNK, skip = new Set() } = {}) {
  const days = new Map();
  const waiting = queue
    .filter((i) => i.status === WAITING && !skip.has(i.client_id))
    .sort((a, b) => (a.received_at < b.received_at ? -1 : a.received_at > b.received_at ? 1 : 0));
  for (const item of waiting) {
    const day = localDate(item.received_at, timeZone);
    if (!days.has(day)) days.set(day, []);
    days.get(day).push(item);
  }
  const out = [];
  for (const day of [...days.keys()].sort()) {
    const items = days.get(day);
    for (let i = 0; i < items.length; i += size) {
      out.push({ collected_on: day, items: items.slice(i, i + size) });
    }
  }
  return out;
}

// One item as the API takes it.
export function receiptBody(item, exponent) {
  const body = {
    client_id: item.client_id,
    amount: formatMinor(item.amount_minor, exponent),
    currency: item.currency,
    received_at: item.received_at,
    channel: item.channel,
  };
  if (item.member_id) body.member_id = item.member_id;
  else if (item.unit_id) body.unit_id = item.unit_id;
  else body.payer = item.payer_ref;
  if (item.reference) body.reference = item.reference;
  return body;
}

export function sheetBody(sheet, exponent) {
  return { collected_on: sheet.collected_on, receipts: sheet.items.map((i) => receiptBody(i, exponent)) };
}

// Apply a sheet's answer. `sentIds` are the client ids sent, in order; a result names its
// item by client_id (or, lacking one, by position). Only items still waiting change; an item
// without a usable result stays waiting (it is sent again, with the same client_id).
export function applyResults(queue, sentIds, results) {
  const byId = new Map();
  (results || []).forEach((r, index) => {
    const id = r && r.client_id != null ? r.client_id : sentIds[index];
    if (id != null && sentIds.includes(id)) byId.set(id, r);
  });
  return queue.map((item) => {
    const r = byId.get(item.client_id);
    if (!r || item.status !== WAITING) return item;
    if (r.status === "created" || r.status === "duplicate") {
      return {
        ...item,
        status: POSTED,
        receipt_id: r.receipt_id ?? item.receipt_id,
        receipt_number: r.receipt_number ?? item.receipt_number,
        periods: r.periods ?? item.periods,
        // the receipt's own amount: a duplicate is the original, whatever was resent (an item
        // edited after an answer was lost); the difference is kept to be shown
        ...serverAmount(item, r.amount),
        // the payer as the server resolved it (a number or plate typed off the round)
        ...(r.payer && r.payer.number
          ? {
              payer_ref: r.payer.number,
              payer_name: r.payer.name || item.payer_name,
              member_id: r.payer.member_id || null,
              unit_id: r.payer.unit_id || null,
            }
          : {}),
        errors: null,
      };
    }
    if (r.status === "rejected") {
      return { ...item, status: REJECTED, errors: r.errors && r.errors.length ? r.errors : [{ field: "item", message: "rejected" }] };
    }
    return item;
  });
}

function serverAmount(item, amount) {
  if (amount == null) return {};
  const parsed = parseAmount(amount, exponentOf(item.currency));
  if (!parsed.ok || parsed.minor === item.amount_minor) return {};
  return { amount_minor: parsed.minor, amount_recorded_minor: item.amount_minor };
}

// A whole sheet refused (a 4xx problem): its items are rejected with the problem's reason.
export function rejectAll(queue, sentIds, problem) {
  const error = {
    field: "sheet",
    code: problem?.code || null,
    params: problem?.params || null,
    message: problem?.detail || problem?.title || "rejected",
  };
  return queue.map((item) =>
    sentIds.includes(item.client_id) && item.status === WAITING ? { ...item, status: REJECTED, errors: [error] } : item,
  );
}

export function counts(queue) {
  const c = { waiting: 0, posted: 0, rejected: 0 };
  for (const i of queue) if (i.status in c) c[i.status] += 1;
  return c;
}

// What this phone recorded on the organisation's day of `now`.
export function today(queue, timeZone, now = new Date()) {
  const day = localDate(now, timeZone);
  const out = { on: day, count: 0, total_minor: 0, waiting: 0, posted: 0, rejected: 0 };
  for (const i of queue) {
    if (localDate(i.received_at, timeZone) !== day) continue;
    out.count += 1;
    out.total_minor += i.amount_minor;
    out[i.status] += 1;
  }
  return out;
}

// Newest first, for the list.
export function newestFirst(queue) {
  return [...queue].sort((a, b) => (a.received_at < b.received_at ? 1 : a.received_at > b.received_at ? -1 : 0));
}
