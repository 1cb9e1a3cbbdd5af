// t(text, params): the current language's text from /collect/i18n/{locale}.json
// ("ui" map), with Python-style %(name)s placeholders; sayError() says a problem code in the
// current language ("codes" map), falling back to the server's English message.

export const LOCALES = { en: "English", fr: "Français", es: "Español" };

let current = { locale: "en", ui: {}, codes: {} };

export function setCatalog(catalog) {
  current = {
    locale: catalog?.locale in LOCALES ? catalog.locale : "en",
    ui: catalog?.ui || {},
    codes: catalog?.codes || {},
  };
}

export function locale() {
  return current.locale;
}

const PLACEHOLDER = /%\((\w+)\)s|%%/g;

export function placeholders(text) {
  const names = [];
  String(text).replace(PLACEHOLDER, (m, name) => {
    if (name) names.push(name);
    return m;
  });
  return names;
}

// Substitute %(name)s with params[name]; a missing name is left as it is; %% is %.
export function format(text, params = {}) {
  return String(text).replace(PLACEHOLDER, (m, name) => {
    if (!name) return "%";
    return params && Object.prototype.hasOwnProperty.call(params, name) && params[name] != null
      ? String(params[name])
      : m;
  });
}

export function t(text, params) {
  const said = current.ui[text];
  return format(typeof said === "string" && said ? said : text, params);
}

// A problem or field error ({code, params, message|detail|title}) in the current language.
export function sayError(error) {
  if (!error) return "";
  const english = error.message || error.detail || error.title;
  if (current.locale === "en" && english) return english; // the server's own words
  const template = error.code ? current.codes[error.code] : undefined;
  const params = error.params || {};
  if (typeof template === "string" && placeholders(template).every((n) => params[n] != null)) {
    return format(template, params);
  }
  return english || error.code || "";
}

export function pickLocale(stored, languages = []) {
  if (stored in LOCALES) return stored;
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in LOCALES) return base;
  }
  return "en";
}

// Fetch a language's catalogue; English (the texts themselves) when it cannot be had.
export async function loadCatalog(fetchFn, wanted) {
  const loc = wanted in LOCALES ? wanted : "en";
  try {
    const res = await fetchFn(`/collect/i18n/${loc}.json`);
    if (res.ok) {
      const body = await res.json();
      return { locale: loc, ui: body.ui || {}, codes: body.codes || {} };
    }
  } catch {
    // offline and not cached: the English texts
  }
  return { locale: loc, ui: {}, codes: {} };
}
