// Money as integer minor units of a currency; decimal strings only at the edges.
// The exponent comes from CLDR (Intl), as on the server (Babel): DOP 2, XOF 0, KWD 3.

export const MAX_MINOR = 10 ** 15 - 1; // the server's bound (app/core/money.py)

const FALLBACK = { XOF: 0, XAF: 0, JPY: 0, KRW: 0, CLP: 0, KWD: 3, BHD: 3, OMR: 3, JOD: 3, TND: 3, IQD: 0, LYD: 3 };

// where the browser's CLDR data and the server's (Babel) disagree, the server's
const SERVER = { PKR: 2 };

export function exponentOf(currency) {
  if (currency in SERVER) return SERVER[currency];
  try {
    const opts = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions();
    return opts.maximumFractionDigits;
  } catch {
    return currency in FALLBACK ? FALLBACK[currency] : 2;
  }
}

// Parse what a person typed into minor units. One "." or "," is the decimal separator;
// no grouping. Returns {ok: true, minor} or {ok: false, error, ...params} where error is
// "empty" | "format" | "decimals" | "whole" | "positive" | "range".
export function parseAmount(text, exponent) {
  const s = String(text ?? "").trim().replace(/\s+/g, "");
  if (!s) return { ok: false, error: "empty" };
  if (/^-/.test(s)) return { ok: false, error: "positive" };
  const m = /^(\d*)(?:[.,](\d*))?$/.exec(s);
  if (!m || (!m[1] && !m[2])) return { ok: false, error: "format" };
  const whole = m[1] || "0";
  const frac = m[2] ?? "";
  if (m[2] !== undefined && exponent === 0) return { ok: false, error: "whole" };
  if (frac.length > exponent) return { ok: false, error: "decimals", count: exponent };
  const digits = (whole + frac.padEnd(exponent, "0")).replace(/^0+(?=\d)/, "");
  if (digits.length > 15) return { ok: false, error: "range" };
  const minor = Number(digits);
  if (minor > MAX_MINOR) return { ok: false, error: "range" };
  if (minor <= 0) return { ok: false, error: "positive" };
  return { ok: true, minor };
}

// The server's decimal string ("150.00") as minor units; null when it is not one.
export function decimalToMinor(text, exponent) {
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(String(text ?? "").trim());
  if (!m) return null;
  const frac = (m[3] || "").padEnd(exponent, "0");
  if (frac.length > exponent) return null;
  const n = Number(m[2] + frac);
  return m[1] ? -n : n;
}

// Minor units as the exact decimal string the API takes (15050, 2 -> "150.50").
export function formatMinor(minor, exponent) {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  if (exponent === 0) return sign + String(abs);
  const unit = 10 ** exponent;
  const whole = Math.floor(abs / unit);
  const frac = String(abs % unit).padStart(exponent, "0");
  return `${sign}${whole}.${frac}`;
}

// Minor units for people: grouped and with the locale's decimal mark, then the currency code.
export function displayMinor(minor, currency, exponent, locale = "en") {
  let n;
  try {
    n = new Intl.NumberFormat(locale, {
      minimumFractionDigits: exponent,
      maximumFractionDigits: exponent,
    }).format(minor / 10 ** exponent);
  } catch {
    n = formatMinor(minor, exponent);
  }
  return currency ? `${n} ${currency}` : n;
}
