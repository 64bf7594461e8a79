// Page layout shared by the views: breadcrumb, blade heading, the resource
// menu of a vault or VM, a toolbar, loading and error states.

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { href } from './router.js';
import { icon } from './icons.js';

let main = null;
let focusNext = false;

export function setMain(el) {
  main = el;
}

/** Ask the next page render to move focus to its heading (after navigation). */
export function focusHeadingOnNextRender() {
  focusNext = true;
}

/** Renders a page into <main> if the page is still current. */
export function show(ctx, node) {
  if (!ctx.alive) return false;
  // A re-render (refresh, polling) keeps focus on the same control.
  const f = document.activeElement;
  const key = f && main.contains(f) && f !== main
    ? [f.tagName, f.getAttribute('aria-label') || '', f.textContent.trim(), f.getAttribute('href') || ''] : null;
  replace(main, node);
  ctx.rendered = true;
  if (focusNext) {
    focusNext = false;
    const h1 = main.querySelector('h1');
    if (h1) h1.focus({ preventScroll: false });
  } else if (key) {
    const same = [...main.querySelectorAll(key[0])].find((x) => (x.getAttribute('aria-label') || '') === key[1]
      && x.textContent.trim() === key[2] && (x.getAttribute('href') || '') === key[3]);
    if (same) same.focus({ preventScroll: true });
  }
  return true;
}

export function setTitle(s) {
  document.title = s ? `${s} - rsvault` : 'rsvault';
}

export function loading(ctx, title) {
  if (ctx.rendered) return;
  show(ctx, h('div', { class: 'page' },
    title ? h('h1', { tabindex: '-1' }, title) : null,
    h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('common.loading'))));
}

export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err);
  const code = err && err.code ? err.code : '';
  return h('div', { class: 'error-box', role: 'alert' },
    h('strong', null, t('common.error')),
    h('p', null, code ? `(${code}) ${msg}` : msg));
}

export function showError(ctx, title, err) {
  show(ctx, h('div', { class: 'page' }, h('h1', { tabindex: '-1' }, title), errorBox(err)));
}

/** Awaits `load()`; if it fails, shows the error as the page and gives
 * `undefined` (the view then stops). */
export async function orShowError(ctx, title, load) {
  try {
    return await load();
  } catch (e) {
    showError(ctx, title, e);
    return undefined;
  }
}

export function breadcrumb(crumbs) {
  return h('nav', { class: 'breadcrumb', 'aria-label': t('common.breadcrumb') },
    h('ol', null, crumbs.map(([label, link], i) => h('li', null,
      link && i < crumbs.length - 1 ? h('a', { href: link }, label) : h('span', { 'aria-current': i === crumbs.length - 1 ? 'page' : null }, label)))));
}

/** A toolbar of buttons: [{label, icon, onClick, disabled, href}] */
/**
 * A toolbar entry the signed-in principal may not use (`can(action)` is
 * false): disabled, saying why.
 */
export function denied(can, action, item) {
  return can(action) ? item : { ...item, disabled: true, title: t('rbac.denied') };
}

export function toolbar(items, label) {
  return h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': label || t('common.commands') },
    items.filter(Boolean).map((it) => (it.href && !it.disabled
      ? h('a', { class: 'tool', href: it.href }, it.icon ? icon(it.icon, 'icon tool-icon') : null, it.label)
      : h('button', { type: 'button', class: 'tool', disabled: it.disabled, onclick: it.onClick, 'aria-label': it.ariaLabel, title: it.title },
        it.icon ? icon(it.icon, 'icon tool-icon') : null, it.label))));
}

/**
 * A blade: breadcrumb, heading with a subtitle, an optional resource menu on
 * the left, a toolbar, and the content.
 */
export function blade({ crumbs, title, subtitle, menu, tools, body, busy }) {
  return h('div', { class: 'page' },
    crumbs ? breadcrumb(crumbs) : null,
    h('div', { class: 'blade-head' },
      h('h1', { tabindex: '-1' }, title),
      subtitle ? h('p', { class: 'subtitle' }, subtitle) : null),
    h('div', { class: ['blade-grid', menu ? 'with-menu' : null] },
      menu || null,
      h('section', { class: 'blade-content', 'aria-busy': busy ? 'true' : null },
        tools || null,
        body)));
}

/** A resource menu: sections of links; `active` is the key of the current one. */
export function resourceMenu(label, sections, active) {
  return h('nav', { class: 'resource-menu', 'aria-label': label },
    sections.map(([heading, links]) => h('div', { class: 'menu-section' },
      heading ? h('h2', { class: 'menu-heading' }, heading) : null,
      h('ul', null, links.map(([key, text, link]) => h('li', null,
        h('a', { href: link, 'aria-current': key === active ? 'page' : null }, text)))))));
}

/** The resource menu of a vault (as Azure groups it). */
export function vaultMenu(rg, name, active) {
  const base = href('vaults', rg, name);
  return resourceMenu(t('vault.menu', { name }), [
    [null, [['overview', t('vault.overview'), base], ['activity', t('activity.title'), `${base}/activity`]]],
    [t('vault.sec.gettingStarted'), [['backup', t('vault.backup'), `${base}/backup`]]],
    [t('vault.sec.protectedItems'), [['items', t('items.title'), `${base}/items`]]],
    [t('vault.sec.monitoring'), [['jobs', t('jobs.title'), `${base}/jobs`]]],
    [t('vault.sec.manage'), [
      ['policies', t('policies.title'), `${base}/policies`],
      ['infrastructure', t('infra.title'), `${base}/infrastructure`],
    ]],
    [t('vault.sec.settings'), [['security', t('sec.title'), `${base}/security`]]],
  ], active);
}

export function vaultCrumbs(rg, name, ...more) {
  return [[t('nav.vaults'), '#/vaults'], [name, href('vaults', rg, name)], ...more];
}
