// The collector app's screens: DOM and wiring only (the logic is in queue, sync, money, slip).

import { t, sayError, setCatalog, loadCatalog, pickLocale, locale, LOCALES } from "./i18n.js";
import { exponentOf, parseAmount, formatMinor, displayMinor, decimalToMinor } from "./money.js";
import * as Q from "./queue.js";
import { createApi, runSync, signIn, signInWithKey, Syncer } from "./sync.js";
import { createStore, dataKey } from "./store.js";
import { slipLines, channelLabel, dateTime, timeOnly, day, payerLabel } from "./slip.js";

const store = createStore(window.localStorage);
const root = document.getElementById("app");
const CHANNELS = ["cash", "mobile_money", "bank"];
const PERIOD = 60_000;
const ONLINE_PAUSE = 1500;

const state = {
  session: null, // {token, expires_at, key, organisation, username}
  data: null, // {queue, me, round, last_sync}
  online: navigator.onLine,
  syncing: false,
  net: "ok", // "ok" | "offline" | "failed": how the last sync went
  sending: new Set(),
  editing: null, // client_id of the receipt in the form
  amountAuto: false, // the amount was filled from the round (a new payer may replace it)
  fromRound: null, // the round's payer whose Record filled the form
  expired: false,
  problem: null, // a sync problem to show in the alert
};

let ui = {}; // the current screen's elements

// -- small DOM helpers --------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  if (value !== undefined) el.value = value;
  return el;
}

function say(el, text) {
  el.textContent = text || "";
  el.hidden = !text;
}

function field(id, label, control, ...after) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control, ...after);
}

// -- state helpers ------------------------------------------------------------------------------

const me = () => state.data?.me || null;
const org = () => me()?.organisation || {};
const zone = () => org().time_zone || "UTC";
const currency = () => me()?.currency || org().currency || "";
const exponent = (cur = currency()) => exponentOf(cur);
const queue = () => state.data?.queue || [];
const roundItems = () => state.data?.round?.items || [];
const money = (minor, cur = currency()) => displayMinor(minor, cur, exponent(cur), locale());
const moneyText = (text, cur = currency()) => {
  const minor = decimalToMinor(text, exponent(cur));
  return minor == null ? `${text} ${cur}` : money(minor, cur);
};

// Change a collector's data as stored now (another tab, or a sync that began before a sign-out
// and in again, may have written it since this page read it); the page shows the result.
function change(key, fn) {
  const data = store.data(key);
  fn(data);
  const kept = store.saveData(key, data);
  if (state.session?.key === key) {
    state.data = data;
    if (!kept) state.problem = { detail: t("This phone could not store the receipts: free some space.") };
  }
  return data;
}

function waitingText(n) {
  return n === 1 ? t("1 waiting") : t("%(n)s waiting", { n });
}

// -- language ------------------------------------------------------------------------------------

async function useLocale(wanted) {
  setCatalog(await loadCatalog((url) => fetch(url), wanted));
  document.documentElement.lang = locale();
  document.title = t("Collector");
}

function languageSelect() {
  const select = h(
    "select",
    { id: "lang", onchange: () => changeLanguage(select.value), value: locale() },
    Object.entries(LOCALES).map(([code, name]) => h("option", { value: code, lang: code }, name)),
  );
  return h("div", { class: "lang" }, h("label", { for: "lang" }, t("Language")), select);
}

async function changeLanguage(code) {
  store.setLocale(code);
  const kept = keepForm();
  await useLocale(code);
  render();
  restoreForm(kept);
  document.getElementById("lang")?.focus();
}

function keepForm() {
  const ids = ["organisation", "username", "payer", "amount", "channel", "reference"];
  const kept = {};
  for (const id of ids) {
    const el = document.getElementById(id);
    if (el) kept[id] = el.value;
  }
  return kept;
}

function restoreForm(kept) {
  for (const [id, value] of Object.entries(kept)) {
    const el = document.getElementById(id);
    if (el) el.value = value;
  }
  if (ui.payer) describePayer();
}

// -- screens ------------------------------------------------------------------------------------

function render() {
  if (state.session && state.data?.me) renderMain();
  else renderSignIn();
  root.removeAttribute("aria-busy");
}

function renderSignIn() {
  const last = store.last() || {};
  const waiting = last.key ? Q.counts(store.data(last.key).queue).waiting : 0;
  const alert = h("p", { class: "alert", role: "alert", hidden: true });
  const orgInput = h("input", {
    id: "organisation",
    name: "organisation",
    autocomplete: "organization",
    autocapitalize: "characters",
    spellcheck: "false",
    required: true,
    value: last.organisation || "",
  });
  const userInput = h("input", {
    id: "username",
    name: "username",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    required: true,
    value: last.username || "",
  });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "primary" }, t("Sign in"));
  const form = h(
    "form",
    { class: "card", novalidate: true, onsubmit: (e) => submitSignIn(e, { orgInput, userInput, password, button, alert }) },
    field("organisation", t("Organisation"), orgInput),
    field("username", t("Username"), userInput),
    field("password", t("Password"), password),
    alert,
    button,
  );
  // a collector may be an API key rather than a user
  const keyInput = h("input", { id: "api-key", name: "api_key", type: "password", autocomplete: "off", spellcheck: "false" });
  const keyAlert = h("p", { class: "alert", role: "alert", hidden: true });
  const keyButton = h("button", { type: "submit" }, t("Use the key"));
  const keyForm = h(
    "details",
    { class: "card" },
    h("summary", {}, t("Use an API key instead")),
    h(
      "form",
      { novalidate: true, onsubmit: (e) => submitKey(e, { keyInput, keyButton, keyAlert }) },
      field("api-key", t("API key"), keyInput),
      keyAlert,
      keyButton,
    ),
  );
  const notes = [];
  if (state.expired) notes.push(h("p", { class: "note" }, t("Your session has ended.")));
  if (waiting > 0) notes.push(h("p", { class: "note strong" }, t("Sign in again to send %(count)s waiting receipts", { count: waiting })));
  root.replaceChildren(
    h("header", { class: "top" }, h("div", { class: "who" }, h("h1", {}, t("Collector"))), h("div", { class: "tools" }, languageSelect())),
    h("section", { class: "signin", "aria-labelledby": "h-signin" }, h("h2", { id: "h-signin" }, t("Sign in")), notes, form, keyForm),
  );
  ui = {};
  (last.organisation ? (last.username ? password : userInput) : orgInput).focus();
}

async function submitSignIn(event, { orgInput, userInput, password, button, alert }) {
  event.preventDefault();
  const organisation = orgInput.value.trim();
  const username = userInput.value.trim();
  if (!organisation || !username || !password.value) {
    say(alert, t("Enter the organisation, your username and your password."));
    return;
  }
  say(alert, "");
  button.disabled = true;
  let result;
  try {
    result = await signIn((url, init) => fetch(url, init), { organisation, username, password: password.value });
  } finally {
    button.disabled = false;
  }
  if (!result.ok) {
    password.value = "";
    const p = result.problem || {};
    if (p.status === 0) say(alert, t("No connection: signing in needs the network."));
    else say(alert, sayError(p) || t("Signing in failed (%(status)s).", { status: p.status }));
    password.focus();
    return;
  }
  signedIn(result, organisation, username);
}

async function submitKey(event, { keyInput, keyButton, keyAlert }) {
  event.preventDefault();
  const apiKey = keyInput.value.trim();
  if (!apiKey) {
    say(keyAlert, t("Enter the API key."));
    return;
  }
  say(keyAlert, "");
  keyButton.disabled = true;
  let result;
  try {
    result = await signInWithKey((url, init) => fetch(url, init), apiKey);
  } finally {
    keyButton.disabled = false;
  }
  if (!result.ok) {
    keyInput.value = "";
    const p = result.problem || {};
    if (p.status === 0) say(keyAlert, t("No connection: signing in needs the network."));
    else say(keyAlert, sayError(p) || t("Signing in failed (%(status)s).", { status: p.status }));
    keyInput.focus();
    return;
  }
  signedIn(result, result.me.organisation?.code || "", result.me.name || "");
}

function signedIn(result, organisation, username) {
  const collector = result.me;
  const key = dataKey(collector.organisation?.code || organisation, collector.id);
  const expiresAt = result.expiresIn ? new Date(Date.now() + result.expiresIn * 1000).toISOString() : null;
  state.session = { token: result.token, expires_at: expiresAt, key, organisation, username };
  store.setSession(state.session);
  store.setLast({ organisation, username, key });
  change(key, (data) => {
    data.me = collector;
  });
  state.expired = false;
  state.problem = null;
  state.net = "ok";
  render();
  startSync();
}

function renderMain() {
  const m = me();
  const signOut = h("button", { type: "button", class: "quiet", onclick: doSignOut }, t("Sign out"));
  const status = h("p", { id: "status", class: "status", role: "status", "aria-live": "polite" });
  const syncButton = h("button", { type: "button", class: "primary", onclick: () => startSync() }, t("Sync now"));
  const alert = h("p", { class: "alert", role: "alert", hidden: true });

  const today = h("dl", { class: "facts" });
  const round = h("ul", { class: "round" });
  const roundNote = h("p", { class: "hint" });
  const list = h("ul", { class: "receipts" });
  const listNote = h("p", { class: "hint" });

  // the recording form
  const datalist = h("datalist", { id: "round-refs" });
  const payer = h("input", {
    id: "payer",
    name: "payer",
    list: "round-refs",
    autocomplete: "off",
    autocapitalize: "characters",
    spellcheck: "false",
    "aria-describedby": "payer-note",
    oninput: () => payerChanged(),
  });
  const payerNote = h("p", { id: "payer-note", class: "hint", "aria-live": "polite" });
  const amount = h("input", {
    id: "amount",
    name: "amount",
    inputmode: "decimal",
    autocomplete: "off",
    "aria-describedby": "amount-currency",
    oninput: () => {
      state.amountAuto = false;
    },
  });
  const channel = h(
    "select",
    { id: "channel", name: "channel", value: "cash" },
    CHANNELS.map((c) => h("option", { value: c }, channelLabel(c))),
  );
  const reference = h("input", { id: "reference", name: "reference", maxlength: "120", autocomplete: "off", "aria-describedby": "reference-hint" });
  const formAlert = h("p", { class: "alert", role: "alert", hidden: true });
  const editing = h("div", { class: "editing", hidden: true });
  const form = h(
    "form",
    { class: "card", novalidate: true, onsubmit: save },
    editing,
    field("payer", t("Member number or plate"), payer, datalist, payerNote),
    field("amount", t("Amount"), h("div", { class: "money" }, amount, h("span", { id: "amount-currency", class: "currency" }, currency()))),
    field("channel", t("Channel"), channel),
    field("reference", t("Reference"), reference, h("p", { id: "reference-hint", class: "hint" }, t("Optional: a mobile money or bank reference."))),
    formAlert,
    h("button", { type: "submit", class: "primary" }, t("Save")),
  );

  root.replaceChildren(
    h(
      "header",
      { class: "top" },
      h("div", { class: "who" }, h("h1", {}, org().name || org().code || ""), h("p", {}, m.name)),
      h("div", { class: "tools" }, languageSelect(), signOut),
    ),
    h("div", { class: "bar" }, status, syncButton),
    alert,
    h("section", { "aria-labelledby": "h-new", id: "new" }, h("h2", { id: "h-new" }, t("New receipt")), form),
    h("section", { "aria-labelledby": "h-round" }, h("h2", { id: "h-round" }, t("My round")), roundNote, round),
    h("section", { "aria-labelledby": "h-receipts" }, h("h2", { id: "h-receipts" }, t("Receipts")), listNote, list),
    h("section", { "aria-labelledby": "h-today" }, h("h2", { id: "h-today" }, t("Today")), today),
  );
  ui = { status, alert, today, round, roundNote, list, listNote, datalist, payer, payerNote, amount, channel, reference, formAlert, editing, form };
  if (state.editing) showEditing();
  update();
}

function update() {
  if (!ui.status) return;
  updateStatus();
  updateToday();
  updateRound();
  updateList();
}

function updateStatus() {
  const c = Q.counts(queue());
  const parts = [waitingText(c.waiting)];
  if (c.rejected) parts.push(c.rejected === 1 ? t("1 rejected") : t("%(n)s rejected", { n: c.rejected }));
  if (state.syncing) parts.push(t("sending"));
  else if (!state.online || state.net === "offline") parts.push(t("offline"));
  else if (state.net === "failed") parts.push(t("the server did not answer; will retry"));
  if (state.data?.last_sync) parts.push(t("last sync %(time)s", { time: timeOnly(state.data.last_sync, locale(), zone()) }));
  ui.status.textContent = parts.join(" · ");
  say(ui.alert, state.problem ? sayError(state.problem) : "");
}

function updateToday() {
  const m = me();
  const mine = Q.today(queue(), zone());
  const rows = [
    [t("Recorded on this phone"), `${mine.count} · ${money(mine.total_minor)}`],
    [t("Waiting"), String(mine.waiting)],
    [t("Posted"), String(mine.posted)],
    [t("Rejected"), String(mine.rejected)],
  ];
  if (m.today) rows.push([t("Posted on the server today"), `${m.today.receipts} · ${moneyText(m.today.total)}`]);
  if (m.cash_balance != null) rows.push([t("Cash held"), moneyText(m.cash_balance)]);
  const last = m.last_handover;
  rows.push([
    t("Last hand-over"),
    last ? `${dateTime(last.handed_over_at, locale(), zone())} · ${moneyText(last.counted_amount ?? last.amount, last.currency || currency())}` : t("none yet"),
  ]);
  ui.today.replaceChildren(...rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

function recordedToday() {
  const day = Q.localDate(new Date(), zone());
  const refs = new Set();
  for (const i of queue()) if (Q.localDate(i.received_at, zone()) === day) refs.add(Q.normalizeRef(i.payer_ref));
  return refs;
}

function updateRound() {
  const items = roundItems();
  const done = recordedToday();
  const asOf = state.data?.round?.as_of;
  say(ui.roundNote, items.length ? (asOf ? t("Amounts as of %(day)s.", { day: day(asOf, locale()) }) : "") : t("No payers in your round yet."));
  ui.round.replaceChildren(
    ...items.map((p) => {
      const ref = Q.roundRef(p);
      const figures = [t("Due today: %(amount)s", { amount: moneyText(p.due_today) }), t("Arrears: %(amount)s", { amount: moneyText(p.arrears) })];
      figures.push(p.paid_through ? t("Paid through %(day)s", { day: day(p.paid_through, locale()) }) : t("Nothing paid yet"));
      return h(
        "li",
        { class: done.has(Q.normalizeRef(ref)) ? "done" : null },
        h("div", { class: "line" }, h("span", { class: "name" }, p.name), h("span", { class: "ref" }, ref)),
        h("p", { class: "figures" }, figures.join(" · ")),
        done.has(Q.normalizeRef(ref)) ? h("p", { class: "hint" }, t("recorded today")) : null,
        h("button", { type: "button", onclick: () => recordFor(p) }, t("Record"), h("span", { class: "sr-only" }, ` ${ref}`)),
      );
    }),
  );
  ui.datalist.replaceChildren(...items.map((p) => h("option", { value: Q.roundRef(p), label: p.name })));
}

function statusOf(item) {
  if (item.status === Q.POSTED) {
    const number = item.receipt_number != null ? t("No. %(number)s", { number: item.receipt_number }) : null;
    // a space between the two, so a screen reader says "posted No. 1", not "postedNo. 1"
    return [h("span", { class: "badge posted" }, t("posted")), number ? " " : null, number ? h("span", { class: "number" }, number) : null];
  }
  if (item.status === Q.REJECTED) return [h("span", { class: "badge rejected" }, t("rejected"))];
  return [h("span", { class: "badge waiting" }, t("waiting"))];
}

function updateList() {
  const items = Q.newestFirst(queue());
  const today = Q.localDate(new Date(), zone());
  say(ui.listNote, items.length ? "" : t("No receipts on this phone yet."));
  ui.list.replaceChildren(
    ...items.map((item) => {
      const when =
        Q.localDate(item.received_at, zone()) === today
          ? timeOnly(item.received_at, locale(), zone())
          : dateTime(item.received_at, locale(), zone());
      const busy = state.sending.has(item.client_id) || state.editing === item.client_id;
      const buttons = [];
      if (Q.editable(item)) {
        buttons.push(h("button", { type: "button", disabled: busy, onclick: () => edit(item.client_id) }, t("Edit")));
        buttons.push(h("button", { type: "button", class: "danger", disabled: busy, onclick: () => remove(item.client_id) }, t("Delete")));
      }
      if (item.status !== Q.REJECTED) buttons.push(h("button", { type: "button", onclick: () => openSlip(item.client_id) }, t("Slip")));
      const reasons = item.status === Q.REJECTED ? (item.errors || []).map((e) => sayError(e)).filter(Boolean) : [];
      return h(
        "li",
        { class: `receipt ${item.status}` },
        h("div", { class: "line" }, h("span", { class: "name" }, payerLabel(item)), h("span", { class: "amount" }, money(item.amount_minor, item.currency))),
        h("p", { class: "meta" }, h("time", { datetime: item.received_at }, when), " · ", channelLabel(item.channel), item.reference ? ` · ${item.reference}` : "", " ", statusOf(item)),
        reasons.length ? h("p", { class: "reason" }, reasons.join("; ")) : null,
        item.status === Q.WAITING && !item.in_round ? h("p", { class: "hint" }, t("not in your round: the server will check it")) : null,
        item.amount_recorded_minor != null
          ? h(
              "p",
              { class: "reason" },
              t("The server had this receipt already, for %(amount)s: the change to %(recorded)s was not taken.", {
                amount: money(item.amount_minor, item.currency),
                recorded: money(item.amount_recorded_minor, item.currency),
              }),
            )
          : null,
        buttons.length ? h("div", { class: "actions" }, buttons) : null,
      );
    }),
  );
}

// -- recording ----------------------------------------------------------------------------------

function describePayer() {
  const text = ui.payer.value.trim();
  const entry = Q.findPayer(roundItems(), text);
  // a payer off the round looked up before: what the server said then, also offline
  const seen = entry ? null : Q.findPayer(state.data?.seen || [], text);
  if (entry) ui.payerNote.textContent = entry.name;
  else if (seen) ui.payerNote.textContent = `${seen.name} · ${t("not in your round: the server will check it")}`;
  else if (text) ui.payerNote.textContent = t("not in your round: the server will check it");
  else ui.payerNote.textContent = "";
  return entry;
}

function fillAmount(entry) {
  const owed = Q.owed(entry, exponent());
  ui.amount.value = owed > 0 ? formatMinor(owed, exponent()) : "";
  state.amountAuto = true;
}

function payerChanged() {
  state.fromRound = null;
  const text = ui.payer.value.trim();
  const entry = describePayer();
  // the round's figures, else those last seen for a payer off the round (offline too)
  const known = entry || Q.findPayer(state.data?.seen || [], text);
  if (known && (state.amountAuto || !ui.amount.value.trim())) fillAmount(known);
  else if (!known && state.amountAuto) {
    ui.amount.value = "";
    state.amountAuto = false;
  }
  if (!entry) lookUp(text);
}

// a payer off the round, looked up on the server when there is a network (name and what is
// owed shown; the receipt still goes with the typed text, which the server resolves)
let lookup = { timer: null, seq: 0 };
function lookUp(text) {
  clearTimeout(lookup.timer);
  const seq = ++lookup.seq;
  if (!navigator.onLine || !state.session || Q.normalizeRef(text).length < 2) return;
  const api = createApi((url, init) => fetch(url, init), { token: state.session.token });
  lookup.timer = setTimeout(async () => {
    let answer;
    try {
      answer = await api.request("GET", `/collectors/me/payers?q=${encodeURIComponent(text.slice(0, 64))}&limit=5`);
    } catch {
      return;
    }
    if (seq !== lookup.seq || !answer.ok || !ui.payer || ui.payer.value.trim() !== text) return;
    const found = Q.findPayer(answer.body?.items || [], text);
    if (!found) return;
    // remembered for this phone's next look, offline too (the latest 200)
    if (state.session?.key) {
      change(state.session.key, (data) => {
        const ref = Q.roundRef(found);
        data.seen = [found, ...(data.seen || []).filter((x) => Q.roundRef(x) !== ref)].slice(0, 200);
      });
    }
    ui.payerNote.textContent = `${found.name} · ${t("not in your round: the server will check it")}`;
    if (state.amountAuto || !ui.amount.value.trim()) fillAmount(found);
  }, 400);
}

function recordFor(entry) {
  if (state.editing) stopEditing();
  state.fromRound = Q.roundRef(entry);
  ui.payer.value = Q.roundRef(entry);
  describePayer();
  fillAmount(entry);
  say(ui.formAlert, "");
  document.getElementById("new").scrollIntoView({ block: "start" });
  ui.amount.focus();
  ui.amount.select();
}

function amountProblem(parsed) {
  const cur = currency();
  const exp = exponent();
  switch (parsed.error) {
    case "empty":
      return t("Enter the amount.");
    case "positive":
      return t("Enter an amount greater than zero.");
    case "decimals":
      return t("%(currency)s allows at most %(count)s decimals", { currency: cur, count: exp });
    case "whole":
      return t("%(currency)s has no minor unit: amounts are whole numbers", { currency: cur });
    case "range":
      return t("amount is beyond the supported range");
    default:
      return t("Enter an amount such as %(example)s.", { example: formatMinor(150 * 10 ** exp, exp) });
  }
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16)); // insecure contexts lack randomUUID
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function save(event) {
  event.preventDefault();
  const text = ui.payer.value.trim();
  if (!text) {
    say(ui.formAlert, t("Enter a member number or plate."));
    ui.payer.focus();
    return;
  }
  const parsed = parseAmount(ui.amount.value, exponent());
  if (!parsed.ok) {
    say(ui.formAlert, amountProblem(parsed));
    ui.amount.focus();
    return;
  }
  const fields = { round: roundItems(), payer: text, amountMinor: parsed.minor, channel: ui.channel.value, reference: ui.reference.value };
  const editing = state.editing;
  try {
    change(state.session.key, (data) => {
      if (editing) data.queue = Q.editItem(data.queue, editing, fields);
      else {
        const item = Q.newItem({ ...fields, clientId: newClientId(), currency: currency(), receivedAt: new Date().toISOString() });
        data.queue = Q.addItem(data.queue, item);
      }
    });
  } catch (err) {
    say(ui.formAlert, err instanceof Q.QueueError ? t("This receipt can no longer be changed.") : String(err));
    return;
  }
  const from = state.fromRound;
  clearForm();
  update();
  nextInRound(from);
  if (navigator.onLine) startSync();
}

// after a receipt recorded from the round, the next payer's Record button (going down the list)
function nextInRound(from) {
  const refs = roundItems().map(Q.roundRef);
  const at = from ? refs.indexOf(from) : -1;
  const buttons = ui.round.querySelectorAll("li > button");
  const next = at >= 0 ? buttons[at + 1] : null;
  if (next) {
    next.focus({ preventScroll: true });
    next.scrollIntoView({ block: "center" });
  } else ui.payer.focus();
}

function clearForm() {
  state.editing = null;
  state.fromRound = null;
  state.amountAuto = false;
  ui.form.reset();
  ui.channel.value = "cash";
  ui.payerNote.textContent = "";
  say(ui.formAlert, "");
  say(ui.editing, "");
}

function showEditing() {
  const item = queue().find((i) => i.client_id === state.editing);
  if (!item) return;
  ui.editing.replaceChildren(
    h("p", {}, t("Changing the receipt of %(payer)s.", { payer: payerLabel(item) })),
    h("button", { type: "button", class: "quiet", onclick: () => { stopEditing(); update(); } }, t("Cancel")),
  );
  ui.editing.hidden = false;
}

function stopEditing() {
  clearForm();
}

function edit(clientId) {
  const item = queue().find((i) => i.client_id === clientId);
  if (!Q.editable(item) || state.sending.has(clientId)) return;
  state.editing = clientId;
  state.amountAuto = false;
  ui.payer.value = item.payer_ref;
  describePayer();
  ui.amount.value = formatMinor(item.amount_minor, exponentOf(item.currency));
  ui.channel.value = item.channel;
  ui.reference.value = item.reference || "";
  say(ui.formAlert, "");
  showEditing();
  updateList();
  document.getElementById("new").scrollIntoView({ block: "start" });
  ui.payer.focus();
}

function remove(clientId) {
  if (state.sending.has(clientId)) return;
  try {
    change(state.session.key, (data) => {
      data.queue = Q.deleteItem(data.queue, clientId);
    });
  } catch {
    return;
  }
  if (state.editing === clientId) clearForm();
  update();
}

// -- the slip -----------------------------------------------------------------------------------

function slipDialog() {
  let dialog = document.getElementById("slip");
  if (!dialog) {
    dialog = h("dialog", { id: "slip", "aria-labelledby": "slip-title" });
    document.body.append(dialog);
  }
  return dialog;
}

function openSlip(clientId) {
  const item = queue().find((i) => i.client_id === clientId);
  if (!item) return;
  const lines = slipLines(item, {
    organisation: org().name,
    timeZone: zone(),
    collector: me().name,
    locale: locale(),
    exponent: exponentOf(item.currency),
  });
  const text = lines.join("\n");
  const dialog = slipDialog();
  const message = h("p", { class: "hint", "aria-live": "polite" });
  const close = () => (dialog.close ? dialog.close() : dialog.removeAttribute("open"));
  const share = navigator.share
    ? h("button", { type: "button", onclick: () => navigator.share({ title: t("Slip"), text }).catch(() => {}) }, t("Share"))
    : h("button", { type: "button", onclick: () => copy(text, body, message) }, t("Copy"));
  const body = h("div", { class: "slip-text" }, lines.map((l) => h("p", {}, l)));
  dialog.replaceChildren(
    h("h2", { id: "slip-title" }, t("Slip")),
    body,
    message,
    h(
      "div",
      { class: "actions slip-actions" },
      share,
      h("button", { type: "button", onclick: () => window.print() }, t("Print")),
      h("button", { type: "button", class: "primary", onclick: close }, t("Close")),
    ),
  );
  if (dialog.showModal) {
    if (!dialog.open) dialog.showModal();
  } else dialog.setAttribute("open", "");
}

async function copy(text, body, message) {
  try {
    await navigator.clipboard.writeText(text);
    message.textContent = t("Copied.");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(body);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    message.textContent = t("Select the text and copy it.");
  }
}

// -- sync and session ---------------------------------------------------------------------------

const syncer = new Syncer(syncOnce);

async function syncOnce() {
  const session = state.session;
  if (!session || !state.data?.me) return { state: "signed_out" };
  const key = session.key;
  const mine = () => state.session?.key === key; // the page still shows this collector
  const current = () => state.session === session;
  const { me: who } = state.data;
  state.syncing = true;
  updateStatusSafe();
  let result;
  try {
    result = await runSync({
      api: createApi((url, init) => fetch(url, init), { token: session.token }),
      // read and written in one go, from and to storage (nothing recorded meanwhile is lost)
      getQueue: () => store.data(key).queue,
      setQueue: (q) => {
        change(key, (data) => {
          data.queue = q;
        });
        if (mine()) update();
      },
      timeZone: who.organisation?.time_zone || "UTC",
      exponent: exponentOf(who.currency || who.organisation?.currency),
      onSending: (ids) => {
        state.sending = new Set(ids);
        if (mine()) updateList();
      },
      skip: () => new Set(state.editing && mine() ? [state.editing] : []),
    });
  } catch (err) {
    result = { state: "failed", problem: { detail: String(err) } };
  } finally {
    state.syncing = false;
    state.sending = new Set();
  }
  change(key, (data) => {
    if (result.me) data.me = result.me;
    if (result.round) data.round = result.round;
    if (result.state === "ok") data.last_sync = new Date().toISOString();
  });
  if (!current()) return result;
  state.net = result.state === "offline" ? "offline" : result.state === "failed" ? "failed" : "ok";
  if (result.state === "signed_out") {
    expire();
    return result;
  }
  state.problem = result.state === "forbidden" ? result.problem : null;
  const editingPayer = ui.payer?.value;
  update();
  if (ui.payer && editingPayer) describePayer();
  if (ui.datalist && result.me) {
    const who = root.querySelector(".who");
    if (who) who.replaceChildren(h("h1", {}, org().name || org().code || ""), h("p", {}, me().name));
  }
  return result;
}

function updateStatusSafe() {
  if (ui.status) updateStatus();
}

function startSync() {
  if (!state.session) return Promise.resolve(null);
  return syncer.request();
}

function expire() {
  store.signOut();
  state.session = null;
  state.data = null;
  state.editing = null;
  state.expired = true;
  render();
}

function doSignOut() {
  const waiting = Q.counts(queue()).waiting;
  if (waiting > 0) {
    const ok = window.confirm(
      t("Receipts waiting to be sent: %(count)s. Sign out anyway? They stay on this phone and are sent when you sign in again.", { count: waiting }),
    );
    if (!ok) return;
  }
  store.signOut();
  state.session = null;
  state.data = null;
  state.editing = null;
  state.expired = false;
  state.problem = null;
  render();
}

// -- start --------------------------------------------------------------------------------------

async function start() {
  await useLocale(pickLocale(store.locale(), navigator.languages || [navigator.language]));
  const session = store.session();
  if (session?.token && session.key) {
    const data = store.data(session.key);
    if (data.me) {
      state.session = session;
      state.data = data;
    }
  }
  render();
  if (state.session && navigator.onLine) startSync();

  // back online: sync after a short pause (a network that flaps settles first)
  window.addEventListener("online", () => {
    state.online = true;
    state.net = "ok";
    updateStatusSafe();
    setTimeout(() => navigator.onLine && startSync(), ONLINE_PAUSE);
  });
  window.addEventListener("offline", () => {
    state.online = false;
    updateStatusSafe();
  });
  // every minute while online: what waits is sent; the collector and round are fetched again
  // every ten minutes only (mobile data costs money)
  setInterval(() => {
    if (!navigator.onLine || !state.session || syncer.busy) return;
    const last = state.data?.last_sync ? Date.parse(state.data.last_sync) : 0;
    const stale = Date.now() - last > 10 * PERIOD;
    if (Q.counts(queue()).waiting > 0 || stale) startSync();
  }, PERIOD);
  // another tab of the app changed this collector's receipts
  window.addEventListener("storage", (e) => {
    if (!state.session || !e.key || !e.key.endsWith(`data:${state.session.key}`)) return;
    if (syncer.busy) return;
    state.data = store.data(state.session.key);
    if (!state.data.me) return;
    update();
  });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("/collect/sw.js", { scope: "/collect/" })
      .then(() => navigator.serviceWorker.ready)
      .then(() => {
        document.documentElement.dataset.offline = "ready";
      })
      .catch(() => {});
  }
}

start();
