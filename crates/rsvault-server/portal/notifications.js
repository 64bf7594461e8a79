// Notifications: "Deployment started / succeeded / failed" entries in the
// bell's panel, each also shown as a transient toast in an aria-live region.
// Jobs started from the portal are followed here until they end.

import { h, replace, progress as progressBar, sleep } from './dom.js';
import { t, fmtDateTime, errorText } from './i18n.js';
import { get, BACKUP_API } from './api.js';
import { icon } from './icons.js';

const entries = [];
const listeners = new Set();
let seq = 0;
let unread = 0;
let toastRegion = null;
let alertRegion = null;

export function onNotificationsChange(f) {
  listeners.add(f);
}

function changed() {
  for (const f of listeners) f();
}

export function notificationEntries() {
  return entries;
}

export function unreadCount() {
  return unread;
}

export function markRead() {
  unread = 0;
  changed();
}

export function clearNotifications() {
  entries.splice(0);
  unread = 0;
  changed();
}

/** The live regions toasts are announced in (created by the shell). */
export function mountToasts(parent) {
  toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite', 'aria-label': t('notif.toasts') });
  alertRegion = h('div', { class: 'toasts toasts-alert', role: 'alert', 'aria-live': 'assertive' });
  parent.append(toastRegion, alertRegion);
}

/**
 * Shows `e` as the one toast of its region: a newer notice replaces the
 * one shown (an entry's own update replaces it in place), and says how
 * many others came while it was up; the bell's panel keeps them all.
 */
function toast(e) {
  const region = e.status === 'error' ? alertRegion : toastRegion;
  if (!region) return;
  for (const r of [alertRegion, toastRegion]) {
    for (const old of [...r.children]) if (old.dataset.entry === String(e.id)) old.remove();
  }
  const hidden = [...region.children].reduce((n, old) => n + 1 + Number(old.dataset.more || 0), 0);
  region.replaceChildren();
  const close = h('button', { type: 'button', class: 'icon-button', 'aria-label': t('common.dismiss') }, icon('close'));
  const el = h('div', { class: ['toast', `st-${e.status}`], dataset: { entry: String(e.id), more: String(hidden) } },
    h('div', null, h('strong', null, e.title), h('p', null, e.message),
      hidden ? h('p', { class: 'toast-more muted' }, t('notif.more', { n: hidden })) : null),
    close);
  close.addEventListener('click', () => el.remove());
  region.appendChild(el);
  setTimeout(() => el.remove(), e.status === 'error' ? 15000 : 5000);
}

/** Adds a notification; returns a handle to update it. */
export function notify({ title, message = '', status = 'info', link = null }) {
  seq += 1;
  const e = { id: seq, title, message, status, link, time: new Date().toISOString(), progress: null };
  entries.unshift(e);
  unread += 1;
  toast(e);
  changed();
  return {
    entry: e,
    update(patch, { announce = true } = {}) {
      Object.assign(e, patch);
      e.time = new Date().toISOString();
      if (announce) {
        unread += 1;
        toast(e);
      }
      changed();
    },
  };
}

/**
 * A deployment as the portal reports it: "Deployment started" now, then
 * succeeded(message, link) or failed(error).
 */
export function deployment(what) {
  const n = notify({ title: t('notif.deployStarted'), message: what, status: 'progress' });
  return {
    succeeded(message, link) {
      n.update({ title: t('notif.deploySucceeded'), message: message || what, status: 'success', link: link || null });
    },
    failed(err) {
      const msg = err && err.message ? err.message : String(err);
      n.update({ title: t('notif.deployFailed'), message: `${what}: ${msg}`, status: 'error' });
    },
  };
}

/**
 * Follows a job until it ends, with its progress in the notification;
 * then reports it completed or failed. `labels`: {running, completed, failed}.
 */
export async function followJob(vaultPath, jobId, labels, link) {
  const n = notify({ title: labels.running, message: t('notif.jobRunning'), status: 'progress', link });
  for (;;) {
    let job;
    try {
      job = await get(`${vaultPath}/backupJobs/${encodeURIComponent(jobId)}`, BACKUP_API);
    } catch (e) {
      n.update({ title: labels.failed, message: e.message, status: 'error' });
      return null;
    }
    const p = job.properties;
    if (p.status === 'InProgress' || p.status === 'Cancelling') {
      n.update({ progress: p.extendedInfo ? p.extendedInfo.progressPercentage : null }, { announce: false });
      await sleep(1000);
      continue;
    }
    if (p.status === 'Completed') {
      n.update({ title: labels.completed, message: t('notif.jobCompleted'), status: 'success', progress: null });
    } else {
      const err = (p.errorDetails || [])[0];
      n.update({ title: labels.failed, message: err ? errorText(err.errorCode, err.errorString) : t(`status.${p.status}`), status: 'error', progress: null });
    }
    return job;
  }
}

/** The panel's content: every entry, newest first. */
export function renderEntries(container) {
  if (!entries.length) {
    replace(container, h('p', { class: 'muted' }, t('notif.none')));
    return;
  }
  replace(container, h('ul', { class: 'notif-list' }, entries.map((e) => h('li', { class: ['notif', `st-${e.status}`] },
    h('div', { class: 'notif-head' },
      statusIcon(e.status),
      h('strong', null, e.title)),
    h('p', null, e.message),
    e.progress !== null && e.progress !== undefined ? progressBar(e.progress, t('common.progress')) : null,
    e.link ? h('a', { href: e.link.href }, e.link.label) : null,
    h('p', { class: 'notif-time muted' }, fmtDateTime(e.time))))));
}

function statusIcon(status) {
  return icon({ success: 'check', error: 'cross', progress: 'sync', info: 'info' }[status] || 'info', 'icon notif-icon');
}
