// Hash-based routing: "#/vaults/rg/name/items?x=y" → a view function.
// Each render gets a context that dies when the user navigates away, so
// pollers stop and late answers do not overwrite the next page.

const routes = [];
let current = null;
let fallback = null;
let before = () => true;

export function route(pattern, view) {
  const keys = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, k) => {
    keys.push(k);
    return '([^/]+)';
  })}/?$`);
  routes.push({ re, keys, view });
}

/** The view for unknown paths. */
export function notFound(view) {
  fallback = view;
}

/** A guard run before each route; returning false stops the dispatch. */
export function beforeEach(f) {
  before = f;
}

/** "#/a/b" from parts, each part encoded. */
export function href(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function navigate(hash) {
  if (location.hash === hash) dispatch();
  else location.hash = hash;
}

export function currentPath() {
  return (location.hash.slice(1) || '/').split('?')[0];
}

function makeCtx() {
  const cleanups = [];
  let alive = true;
  return {
    get alive() {
      return alive;
    },
    onLeave(f) {
      cleanups.push(f);
    },
    /** Runs `f` every `ms` until the page is left; `f` returns false to stop. */
    poll(f, ms) {
      let timer = null;
      const tick = async () => {
        if (!alive) return;
        let again = true;
        try {
          again = (await f()) !== false;
        } catch (e) {
          console.warn(e);
        }
        if (alive && again) timer = setTimeout(tick, ms);
      };
      timer = setTimeout(tick, ms);
      cleanups.push(() => clearTimeout(timer));
    },
    /**
     * Runs `f` while the page is shown and the tab visible: every `busyMs`
     * while `f` answers true (something runs), else every `idleMs`; at once
     * when the tab becomes visible again. Stops when the page is left.
     */
    pollWhileVisible(f, busyMs, idleMs) {
      let timer = null;
      let busy = false;
      const schedule = (ms) => {
        clearTimeout(timer);
        timer = setTimeout(tick, ms);
      };
      async function tick() {
        timer = null;
        if (!alive || document.hidden) return;
        try {
          busy = (await f()) === true;
        } catch (e) {
          console.warn(e);
        }
        if (alive && !timer) schedule(busy ? busyMs : idleMs);
      }
      const onVisibility = () => {
        if (alive && !document.hidden) schedule(0);
      };
      document.addEventListener('visibilitychange', onVisibility);
      cleanups.push(() => {
        clearTimeout(timer);
        document.removeEventListener('visibilitychange', onVisibility);
      });
      return {
        /** Polls at the busy pace from now (something was just started). */
        busy() {
          busy = true;
          schedule(busyMs);
        },
        start(isBusy) {
          busy = isBusy;
          schedule(busy ? busyMs : idleMs);
        },
      };
    },
    leave() {
      alive = false;
      for (const f of cleanups.splice(0)) {
        try {
          f();
        } catch (e) {
          console.warn(e);
        }
      }
    },
  };
}

export async function dispatch() {
  const raw = location.hash.slice(1) || '/';
  const [path, qs] = raw.split('?');
  if (current) current.leave();
  const ctx = makeCtx();
  current = ctx;
  if (!before(path)) return;
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = {};
    r.keys.forEach((k, i) => {
      params[k] = decodeURIComponent(m[i + 1]);
    });
    await r.view(params, new URLSearchParams(qs || ''), ctx);
    return;
  }
  if (fallback) await fallback({}, new URLSearchParams(), ctx);
}

export function start() {
  window.addEventListener('hashchange', dispatch);
  return dispatch();
}
