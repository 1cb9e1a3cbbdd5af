// The slip of a receipt (posted, or provisional while waiting) as lines of text, and the
// date/label helpers the screens share. No DOM.

import { t } from "./i18n.js";
import { displayMinor, decimalToMinor } from "./money.js";
import { POSTED } from "./queue.js";

export function channelLabel(channel) {
  if (channel === "cash") return t("Cash");
  if (channel === "mobile_money") return t("Mobile money");
  if (channel === "bank") return t("Bank");
  return String(channel);
}

// An instant in the organisation's time zone, for people.
export function dateTime(instant, locale, timeZone) {
  try {
    return new Intl.DateTimeFormat(locale, { timeZone, dateStyle: "medium", timeStyle: "short" }).format(new Date(instant));
  } catch {
    return String(instant);
  }
}

export function timeOnly(instant, locale, timeZone) {
  try {
    return new Intl.DateTimeFormat(locale, { timeZone, hour: "2-digit", minute: "2-digit" }).format(new Date(instant));
  } catch {
    return String(instant);
  }
}

// A calendar day ("2026-11-30") for people, whatever the phone's zone.
export function day(iso, locale) {
  if (!iso) return "";
  try {
    return new Intl.DateTimeFormat(locale, { timeZone: "UTC", dateStyle: "medium" }).format(new Date(`${iso}T00:00:00Z`));
  } catch {
    return String(iso);
  }
}

export function payerLabel(item) {
  return item.payer_name ? `${item.payer_name} (${item.payer_ref})` : item.payer_ref;
}

// {organisation, timeZone, collector, locale, exponent}
export function slipLines(item, { organisation, timeZone, collector, locale = "en", exponent = 2 }) {
  const money = (minor) => displayMinor(minor, item.currency, exponent, locale);
  const lines = [];
  if (organisation) lines.push(organisation);
  if (item.status === POSTED && item.receipt_number != null) {
    lines.push(t("Receipt No. %(number)s", { number: item.receipt_number }));
  } else {
    lines.push(t("Provisional receipt (not yet posted)"));
  }
  lines.push(t("Payer: %(payer)s", { payer: payerLabel(item) }));
  lines.push(t("Amount: %(amount)s", { amount: money(item.amount_minor) }));
  lines.push(t("Channel: %(channel)s", { channel: channelLabel(item.channel) }));
  if (item.reference) lines.push(t("Reference: %(reference)s", { reference: item.reference }));
  if (item.periods && item.periods.length) {
    lines.push(t("Periods paid:"));
    for (const p of item.periods) {
      const minor = decimalToMinor(p.amount, exponent);
      lines.push(
        t("%(start)s to %(end)s: %(amount)s", {
          start: day(p.period_start, locale),
          end: day(p.period_end, locale),
          amount: minor == null ? p.amount : money(minor),
        }),
      );
    }
  }
  lines.push(t("Date: %(when)s", { when: dateTime(item.received_at, locale, timeZone) }));
  if (collector) lines.push(t("Collector: %(name)s", { name: collector }));
  return lines;
}

export function slipText(item, context) {
  return slipLines(item, context).join("\n");
}
