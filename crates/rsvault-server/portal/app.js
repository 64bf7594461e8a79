// The portal's shell: header (product, language, notifications, sign-out),
// left navigation, <main>, the notifications panel and toasts; then routes.

import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { t, lang, setLang, onLangChange } from './i18n.js';
import { session, onUnauthorized } from './api.js';
import { route, notFound, beforeEach, start, dispatch, currentPath, navigate } from './router.js';
import { setMain, focusHeadingOnNextRender, show, setTitle } from './layout.js';
import { closeAllDialogs } from './dialog.js';
import { mountToasts, onNotificationsChange, renderEntries, unreadCount, markRead, clearNotifications } from './notifications.js';
import { signInView } from './views/signin.js';
import { vaultListView, vaultCreateView } from './views/vaults.js';
import { vaultOverviewView, infrastructureView, backupConfigView, policiesView, policyDetailsView } from './views/vault.js';
import { securityView, activityView } from './views/security.js';
import { vaultBackupView } from './views/backup.js';
import { itemsView, itemView } from './views/items.js';
import { restoreView } from './views/restore.js';
import { jobsView, jobView } from './views/jobs.js';
import { vmListView, vmOverviewView, vmBackupView } from './views/vms.js';
import { hostListView } from './views/hosts.js';
import { servicesView } from './views/services.js';
import { storageListView, storageAccountView, containerView } from './views/storage.js';

const root = document.getElementById('app');
let panelOpen = false;
let navOpen = false;

const skip = h('a', { class: 'skip-link', href: '#main' });
const navToggle = h('button', { type: 'button', class: 'icon-button nav-toggle', 'aria-controls': 'sidenav', 'aria-expanded': 'false' });
const brand = h('a', { class: 'brand', href: '#/vaults' });
const langGroup = h('div', { class: 'lang-switch', role: 'group' });
const bell = h('button', { type: 'button', class: 'icon-button bell', 'aria-controls': 'notif-panel', 'aria-expanded': 'false' });
const account = h('div', { class: 'account' });
const sidenav = h('nav', { id: 'sidenav', class: 'sidenav' });
const main = h('main', { id: 'main', tabindex: '-1' });
const panelBody = h('div', { class: 'panel-body' });
const panel = h('aside', { id: 'notif-panel', class: 'notif-panel', hidden: true, 'aria-labelledby': 'notif-heading' });

setMain(main);

root.replaceWith(h('div', { id: 'app', class: 'shell' },
  skip,
  h('header', { class: 'topbar' }, navToggle, brand, h('div', { class: 'top-actions' }, langGroup, bell, account)),
  h('div', { class: 'body' }, sidenav, main, panel)));
mountToasts(document.body);

skip.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

navToggle.addEventListener('click', () => {
  navOpen = !navOpen;
  renderShell();
});

bell.addEventListener('click', () => togglePanel(!panelOpen));

function togglePanel(open) {
  panelOpen = open;
  if (open) markRead();
  renderShell();
  if (open) panelHeading.focus();
  else bell.focus();
}

const panelHeading = h('h2', { id: 'notif-heading', tabindex: '-1' });
const dismissAll = h('button', { type: 'button', class: 'link-button', onclick: clearNotifications });
const panelClose = h('button', { type: 'button', class: 'icon-button', onclick: () => togglePanel(false) }, icon('close'));
panel.append(h('div', { class: 'panel-head' }, panelHeading, dismissAll, panelClose), panelBody);

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && panelOpen && !e.defaultPrevented && !document.querySelector('dialog[open]')) togglePanel(false);
});

function renderShell() {
  skip.textContent = t('shell.skip');
  navToggle.setAttribute('aria-label', t('shell.menu'));
  navToggle.setAttribute('aria-expanded', String(navOpen));
  replace(navToggle, icon('menu'));
  replace(brand, h('span', { class: 'brand-name' }, 'rsvault'), h('span', { class: 'brand-sub' }, t('shell.product')));
  langGroup.setAttribute('aria-label', t('shell.language'));
  replace(langGroup, ...[['ja', '日本語'], ['en', 'English']].map(([code, label]) => h('button', {
    type: 'button', lang: code, 'aria-pressed': String(lang() === code), class: 'lang', onclick: () => setLang(code),
  }, label)));
  const n = unreadCount();
  bell.setAttribute('aria-label', n ? `${t('nav.notifications')} (${t('notif.unread', { n })})` : t('nav.notifications'));
  bell.setAttribute('aria-expanded', String(panelOpen));
  replace(bell, icon('bell'), n ? h('span', { class: 'badge', 'aria-hidden': 'true' }, String(n)) : null);
  const signedIn = !!session.token;
  document.body.classList.toggle('signed-out', !signedIn);
  replace(account, signedIn
    ? [subscriptionPicker(),
      h('button', { type: 'button', class: 'link-button', onclick: signOut }, t('shell.signOut'))]
    : []);
  sidenav.setAttribute('aria-label', t('shell.services'));
  sidenav.classList.toggle('open', navOpen);
  const path = currentPath();
  replace(sidenav, h('ul', null,
    navLink('#/services', 'menu', t('nav.allServices'), path.startsWith('/services')),
    navLink('#/vaults', 'vault', t('nav.vaults'), path.startsWith('/vaults')),
    navLink('#/vms', 'vm', t('nav.vms'), path.startsWith('/vms')),
    navLink('#/hosts', 'vm', t('nav.hosts'), path.startsWith('/hosts')),
    navLink('#/storage', 'storage', t('nav.storage'), path.startsWith('/storage'))));
  panel.hidden = !panelOpen;
  panelHeading.textContent = t('nav.notifications');
  dismissAll.textContent = t('notif.dismissAll');
  panelClose.setAttribute('aria-label', t('common.close'));
  renderEntries(panelBody);
}

function navLink(link, ic, label, active) {
  return h('li', null, h('a', { href: link, 'aria-current': active ? 'page' : null, onclick: () => { navOpen = false; } },
    icon(ic, 'icon nav-icon'), h('span', null, label)));
}

/**
 * The subscription the portal works in: a picker of those the caller can
 * see (as Azure's subscription filter), or its name when there is one.
 */
function subscriptionPicker() {
  const subs = session.subscriptions;
  const current = session.subscription;
  if (subs.length < 2) {
    const name = (subs[0] && subs[0].name) || current;
    return h('span', { class: 'sub-id', title: `${t('common.subscription')}: ${current}` }, name);
  }
  const pick = h('select', { class: 'sub-pick', 'aria-label': t('common.subscription') },
    subs.map((s) => h('option', { value: s.id, selected: s.id.toLowerCase() === current.toLowerCase() },
      s.name === s.id ? s.id : `${s.name} (${s.id})`)));
  pick.addEventListener('change', () => {
    session.use(pick.value);
    // The lists are the new subscription's; a resource's page is not.
    if (location.hash === '#/vaults') dispatch();
    else navigate('#/vaults');
    renderShell();
  });
  return pick;
}

function signOut() {
  session.signOut();
  navigate('#/signin');
}

onNotificationsChange(() => {
  if (panelOpen && unreadCount()) markRead();
  else renderShell();
});

onLangChange(() => {
  closeAllDialogs();
  renderShell();
  dispatch();
});

onUnauthorized(() => {
  session.signOut();
  if (currentPath() !== '/signin') navigate(`#/signin?expired=1&next=${encodeURIComponent(location.hash)}`);
});

window.addEventListener('hashchange', () => {
  closeAllDialogs();
  navOpen = false;
  focusHeadingOnNextRender();
  renderShell();
});

beforeEach((path) => {
  if (path !== '/signin' && !session.token) {
    navigate(`#/signin?next=${encodeURIComponent(location.hash || '#/vaults')}`);
    return false;
  }
  return true;
});

route('/signin', signInView);
route('/', () => navigate('#/vaults'));
route('/vaults', vaultListView);
route('/vaults/create', vaultCreateView);
route('/vaults/:rg/:name', vaultOverviewView);
route('/vaults/:rg/:name/backup', vaultBackupView);
route('/vaults/:rg/:name/items', itemsView);
route('/vaults/:rg/:name/items/:container/:item', itemView);
route('/vaults/:rg/:name/items/:container/:item/restore', restoreView);
route('/vaults/:rg/:name/jobs', jobsView);
route('/vaults/:rg/:name/jobs/:job', jobView);
route('/vaults/:rg/:name/policies', policiesView);
route('/vaults/:rg/:name/policies/:policy', policyDetailsView);
route('/vaults/:rg/:name/infrastructure', infrastructureView);
route('/vaults/:rg/:name/infrastructure/config', backupConfigView);
route('/vaults/:rg/:name/security', securityView);
route('/vaults/:rg/:name/activity', activityView);
route('/services', servicesView);
route('/vms', vmListView);
route('/hosts', hostListView);
route('/storage', storageListView);
route('/storage/:rg/:name', storageAccountView);
route('/storage/:rg/:name/containers/:container', containerView);
route('/vms/:kind/:rg/:name', vmOverviewView);
route('/vms/:kind/:rg/:name/backup', vmBackupView);
notFound((p, q, ctx) => {
  setTitle(t('common.notFound'));
  show(ctx, h('div', { class: 'page' }, h('h1', { tabindex: '-1' }, t('common.notFound')), h('p', null, h('a', { href: '#/vaults' }, t('nav.vaults')))));
});

renderShell();
start();
