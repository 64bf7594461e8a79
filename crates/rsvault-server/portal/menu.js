// The "…" context menu: a menu button (aria-haspopup) and a role=menu list,
// driven by keyboard (arrows, Home/End, Escape) as well as by pointer.

import { h, newId } from './dom.js';
import { icon } from './icons.js';

let openMenu = null;

document.addEventListener('click', (e) => {
  if (openMenu && !openMenu.root.contains(e.target)) openMenu.close(false);
});
// The menu is position: fixed; it follows its button when anything scrolls.
for (const ev of ['resize', 'scroll']) {
  window.addEventListener(ev, () => {
    if (openMenu) openMenu.place();
  }, true);
}

/**
 * contextMenu({label, items: [{label, disabled, onSelect}]})
 * `label` names the button for screen readers ("More actions for web-01").
 */
export function contextMenu({ label, items }) {
  const menuId = newId('menu');
  const button = h('button', {
    type: 'button', class: 'icon-button more', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
    'aria-controls': menuId, 'aria-label': label, title: label,
  }, icon('more', 'icon more-icon'));
  const list = h('ul', { role: 'menu', id: menuId, class: 'menu', hidden: true, 'aria-label': label });
  const entries = items.map((it) => {
    const b = h('button', { type: 'button', role: 'menuitem', tabindex: '-1', 'aria-disabled': it.disabled ? 'true' : null, class: it.disabled ? 'disabled' : null }, it.label);
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      if (it.disabled) return;
      state.close(false);
      it.onSelect();
    });
    list.appendChild(h('li', { role: 'none' }, b));
    return b;
  });
  const root = h('div', { class: 'menu-root' }, button, list);

  const state = {
    root,
    /** Fixed position under the button, so a scrolling table does not clip the menu. */
    place() {
      const r = button.getBoundingClientRect();
      const w = list.offsetWidth;
      const hgt = list.offsetHeight;
      const below = r.bottom + 2 + hgt <= window.innerHeight;
      list.style.left = `${Math.max(4, Math.min(r.right - w, window.innerWidth - w - 4))}px`;
      list.style.top = `${below ? r.bottom + 2 : Math.max(4, r.top - hgt - 2)}px`;
    },
    open(focusLast = false) {
      if (openMenu && openMenu !== state) openMenu.close(false);
      list.hidden = false;
      state.place();
      button.setAttribute('aria-expanded', 'true');
      openMenu = state;
      const enabled = entries.filter((b) => b.getAttribute('aria-disabled') !== 'true');
      const target = (focusLast ? enabled[enabled.length - 1] : enabled[0]) || entries[0];
      if (target) target.focus({ preventScroll: true });
    },
    close(refocus = true) {
      list.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      if (openMenu === state) openMenu = null;
      if (refocus) button.focus();
    },
  };

  button.addEventListener('click', (e) => {
    e.stopPropagation();
    if (list.hidden) state.open();
    else state.close();
  });
  button.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      state.open();
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      state.open(true);
    }
  });
  list.addEventListener('keydown', (e) => {
    const i = entries.indexOf(document.activeElement);
    const move = (j) => entries[(j + entries.length) % entries.length].focus({ preventScroll: true });
    if (e.key === 'ArrowDown') move(i + 1);
    else if (e.key === 'ArrowUp') move(i - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(entries.length - 1);
    else if (e.key === 'Escape') state.close();
    else if (e.key === 'Tab') state.close(false);
    else return;
    if (e.key !== 'Tab') e.preventDefault();
  });
  return root;
}
