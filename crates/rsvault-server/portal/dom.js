// Small DOM helpers: h() builds elements, the rest are common bits of markup.

let uid = 0;

/** A page-unique id with a readable prefix. */
export function newId(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * h('button', {class: 'primary', onclick: fn, 'aria-label': 'x'}, 'text', child, [more])
 * Attributes: `class`, `text`, `html` is not supported on purpose (no innerHTML),
 * `on<event>` handlers, booleans (true sets "", false/null/undefined skip),
 * `dataset` object, `style` string, `value` and `checked` as properties.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      // Through the CSSOM: the page's Content-Security-Policy allows no inline style attributes.
      else if (k === 'style') el.style.cssText = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends strings, nodes and (nested) arrays; skips null/undefined/false. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled form field: label, control, hint and an inline error slot. */
export function field({ label, control, hint, required, id }) {
  const cid = control.id || id || newId('f');
  control.id = cid;
  const errId = `${cid}-error`;
  const hintId = hint ? `${cid}-hint` : null;
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  const describedBy = [hintId, errId].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', describedBy);
  if (required) control.setAttribute('aria-required', 'true');
  const wrap = h('div', { class: 'field' },
    h('div', { class: 'label-row' }, h('label', { for: cid }, label), required ? h('span', { class: 'req', 'aria-hidden': 'true' }, '*') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    err);
  wrap.control = control;
  wrap.setError = (msg) => setFieldError(control, err, msg);
  return wrap;
}

function setFieldError(control, err, msg) {
  if (msg) {
    err.textContent = msg;
    err.hidden = false;
    control.setAttribute('aria-invalid', 'true');
  } else {
    err.textContent = '';
    err.hidden = true;
    control.removeAttribute('aria-invalid');
  }
}

/** An inline error slot for a group (fieldset) rather than one control. */
export function errorSlot() {
  const p = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  p.set = (msg) => {
    p.textContent = msg || '';
    p.hidden = !msg;
  };
  return p;
}

/** <select> from [{value, label}] */
export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map((o) =>
    h('option', { value: o.value, selected: o.value === value, disabled: o.disabled }, o.label)));
}

/** A table with a caption (visually hidden when `hideCaption`). */
export function table({ caption, hideCaption = true, head, rows, empty, className }) {
  const body = h('tbody', null, rows.length
    ? rows
    : h('tr', null, h('td', { colspan: head.length, class: 'empty' }, empty)));
  return h('div', { class: ['table-wrap', className] },
    h('table', null,
      caption ? h('caption', { class: hideCaption ? 'sr-only' : null }, caption) : null,
      h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
      body));
}

/** role=progressbar with a visible bar and percentage. */
export function progress(pct, label) {
  const v = Math.max(0, Math.min(100, Math.round(Number(pct) || 0)));
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': v, 'aria-label': label },
    h('div', { class: 'progress-bar', style: `width:${v}%` }),
    h('span', { class: 'progress-text' }, `${v}%`));
}

/** A key/value list ("Essentials"). */
export function essentials(pairs, label) {
  return h('dl', { class: 'essentials', 'aria-label': label },
    pairs.filter(Boolean).map(([k, v]) => h('div', { class: 'kv' }, h('dt', null, k), h('dd', null, v ?? '—'))));
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
