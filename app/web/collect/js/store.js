// Persistence behind a tiny interface: localStorage in the browser, memoryBackend() in tests.
// Keys: "session" (token, the collector's data key, organisation and username typed),
// "last" (who signed in last: prefills the sign-in form, counts what waits), "locale", and
// "data:<ORG>:<collector id>" ({queue, me, round, last_sync}) so that one collector's queue is
// never shown to or sent by another. Signing out forgets only the token.

const PREFIX = "coopledger.collect.";

export function memoryBackend() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
    get size() {
      return map.size;
    },
  };
}

export function dataKey(organisationCode, collectorId) {
  return `${String(organisationCode).trim().toUpperCase()}:${collectorId}`;
}

export function emptyData() {
  return { queue: [], me: null, round: null, last_sync: null };
}

export function createStore(backend) {
  function get(name) {
    try {
      const raw = backend.getItem(PREFIX + name);
      return raw == null ? null : JSON.parse(raw);
    } catch {
      return null;
    }
  }
  // false when the phone refused to keep it (storage full or disabled)
  function set(name, value) {
    try {
      backend.setItem(PREFIX + name, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }
  function remove(name) {
    try {
      backend.removeItem(PREFIX + name);
    } catch {
      // nothing to forget
    }
  }
  return {
    get,
    set,
    remove,
    session: () => get("session"),
    setSession: (s) => set("session", s),
    // forget the token, keep who it was (and their queue)
    signOut() {
      const s = get("session");
      remove("session");
      if (s) set("last", { organisation: s.organisation, username: s.username, key: s.key });
    },
    last: () => get("last"),
    setLast: (l) => set("last", l),
    data: (key) => ({ ...emptyData(), ...(get("data:" + key) || {}) }),
    saveData: (key, data) => set("data:" + key, data),
    locale: () => get("locale"),
    setLocale: (l) => set("locale", l),
  };
}
