// Modal dialogs (the portal's "blades" that open over a page): a native
// <dialog> shown modally, so the page behind is inert; Tab wraps inside the
// dialog, Escape closes it, and focus returns to what opened it.

import { h, newId, errorSlot } from './dom.js';
import { t } from './i18n.js';
import { icon } from './icons.js';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

const open = new Set();

/** Closes every open dialog (on navigation and language change). */
export function closeAllDialogs() {
  for (const d of [...open]) d.close();
}

/**
 * openDialog({title, body: [nodes], actions: [{label, primary, danger, onClick}], wide})
 * An action's onClick(dialog) may be async; unless it returns false the
 * dialog closes afterwards. A thrown error is shown inside the dialog.
 */
export function openDialog({ title, body, actions = [], wide = false, onClose, description }) {
  const opener = document.activeElement;
  const titleId = newId('dlg-title');
  const descId = description ? newId('dlg-desc') : null;
  const error = errorSlot();
  const closeBtn = h('button', { type: 'button', class: 'icon-button dialog-close', 'aria-label': t('common.close') }, icon('close'));
  const footer = h('div', { class: 'dialog-actions' });
  const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
    h('div', { class: 'dialog-body' }, description ? h('p', { id: descId }, description) : null, body, error),
    footer);
  const el = h('dialog', { class: ['dialog', wide ? 'wide' : null], 'aria-labelledby': titleId, 'aria-describedby': descId },
    h('header', { class: 'dialog-header' }, h('h2', { id: titleId }, title), closeBtn),
    form);

  let closed = false;
  const dlg = {
    el,
    error,
    close() {
      if (closed) return;
      closed = true;
      open.delete(dlg);
      el.close();
      el.remove();
      if (onClose) onClose();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    },
    setBusy(busy) {
      for (const b of footer.querySelectorAll('button')) b.disabled = busy;
      el.setAttribute('aria-busy', busy ? 'true' : 'false');
    },
  };

  for (const a of actions) {
    const b = h('button', { type: a.primary ? 'submit' : 'button', class: a.primary ? 'primary' : (a.danger ? 'danger' : 'secondary') }, a.label);
    if (!a.primary) b.addEventListener('click', () => run(a));
    footer.appendChild(b);
  }
  const primary = actions.find((a) => a.primary);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (primary) run(primary);
  });

  async function run(a) {
    if (!a.onClick) {
      dlg.close();
      return;
    }
    error.set('');
    dlg.setBusy(true);
    let keep = false;
    try {
      keep = (await a.onClick(dlg)) === false;
    } catch (e) {
      error.set(e.message || String(e));
      keep = true;
    }
    if (closed) return;
    dlg.setBusy(false);
    if (!keep) dlg.close();
  }

  closeBtn.addEventListener('click', () => dlg.close());
  el.addEventListener('cancel', (e) => {
    e.preventDefault();
    dlg.close();
  });
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      dlg.close();
      return;
    }
    if (e.key !== 'Tab') return;
    const items = [...el.querySelectorAll(FOCUSABLE)].filter((x) => x.offsetParent !== null || x === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });

  document.body.appendChild(el);
  open.add(dlg);
  el.showModal();
  const firstField = el.querySelector('.dialog-body input:not([disabled]), .dialog-body select:not([disabled]), .dialog-body textarea');
  (firstField || footer.querySelector('button') || closeBtn).focus();
  return dlg;
}

/**
 * Asks a question; resolves true when confirmed. `validate()` may return
 * an error message that keeps the dialog open (e.g. a name to type first).
 */
export function confirmDialog({ title, message, confirmLabel, body = [], validate }) {
  return new Promise((resolve) => {
    let ok = false;
    openDialog({
      title,
      description: message,
      body,
      actions: [
        {
          label: confirmLabel,
          primary: true,
          onClick: () => {
            const err = validate ? validate() : '';
            if (err) throw new Error(err);
            ok = true;
          },
        },
        { label: t('common.cancel') },
      ],
      onClose: () => resolve(ok),
    });
  });
}
