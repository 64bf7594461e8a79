// Backup jobs: the list (filters, live progress while jobs run) and a job's
// details (tasks, property bag, errors with recommendations, cancel).

import { h, field, select, table, essentials, progress } from '../dom.js';
import { t, tOr, fmtDateTime, fmtDuration, errorText, errorKnown, errorCarriesText, recommendationText } from '../i18n.js';
import { get, list, request, vaultPath, waitOperation, parseId, BACKUP_API } from '../api.js';
import { show, loading, showError, blade, toolbar, setTitle, vaultMenu, vaultCrumbs, orShowError } from '../layout.js';
import { href } from '../router.js';
import { notify } from '../notifications.js';
import { confirmDialog } from '../dialog.js';
import { icon } from '../icons.js';
import { listAccounts, accountFolder, accountHref } from './storage.js';

const STATUSES = ['InProgress', 'Completed', 'CompletedWithWarnings', 'Failed', 'Cancelling', 'Cancelled'];
const OPERATIONS = ['Backup', 'Restore', 'ConfigureBackup', 'DisableBackup', 'DeleteBackupData', 'Undelete', 'Verify'];
const running = (st) => st === 'InProgress' || st === 'Cancelling';

export function statusCell(st) {
  const name = { Completed: 'check', Failed: 'cross', InProgress: 'sync', Cancelled: 'cancel', Cancelling: 'cancel', CompletedWithWarnings: 'warning' }[st] || 'info';
  return h('span', { class: ['status', `st-${st}`] }, icon(name), ' ', tOr(`status.${st}`, st));
}

const opLabel = (op) => tOr(`op.${op}`, op);

/** Property bag keys that carry a number or a disk's name. */
const NUMBERED_BAG = [
  [/^Damaged Point (\d+)$/, 'bag.Damaged Point', 'n'],
  [/^Data disk \(LUN (\d+)\)$/, 'bag.Data disk', 'n'],
  [/^Managed Disk \(LUN (\d+)\)$/, 'bag.Managed Disk', 'n'],
  [/^Changed-block tracking \((.+)\)$/, 'bag.Changed-block tracking', 'disk'],
];

/** A property bag key as the portal words it. */
function bagLabel(k) {
  for (const [re, key, arg] of NUMBERED_BAG) {
    const m = re.exec(k);
    if (m) return t(key, { [arg]: m[1] });
  }
  return tOr(`bag.${k}`, k);
}

/**
 * A job error's message in the page's language; where the portal words
 * the code itself, the server's own text (with its details: paths,
 * sockets) follows, marked as the server's.
 */
function jobErrorText(e) {
  const text = errorText(e.errorCode, e.errorString);
  if (!errorKnown(e.errorCode) || errorCarriesText(e.errorCode) || !e.errorString) return [text];
  return [text, h('br'), h('span', { class: 'muted' }, t('err.serverSaid', { text: e.errorString, code: e.errorCode }))];
}

/** A property bag value as the portal words it: enum values in the page's language. */
function bagValue(v) {
  const s = String(v);
  const cbt = /^not used \((.+)\)$/.exec(s);
  if (cbt) return t('bagval.notUsedBecause', { why: cbt[1] });
  return tOr(`bagval.${s}`, s);
}

/**
 * The storage account a restore of disks wrote into (its resource group
 * and folder), so the job links to it and names files as blobs in it;
 * null when the job names none or the account is gone.
 */
async function restoredInto(bag) {
  const name = bag['Target Storage Account Name'];
  if (!name) return null;
  const accounts = await listAccounts().catch(() => []);
  const a = accounts.find((x) => x.name.toLowerCase() === String(name).toLowerCase());
  if (!a) return null;
  const folder = accountFolder(a);
  return { rg: parseId(a.id).resourceGroup, name: a.name, folder: folder && (folder.endsWith('/') ? folder : `${folder}/`) };
}

/** A bag value that is a file of the account: its container and blob name. */
function blobOf(storage, v) {
  if (!storage || !storage.folder || typeof v !== 'string' || !v.startsWith(storage.folder)) return null;
  const rel = v.slice(storage.folder.length);
  const cut = rel.indexOf('/');
  return cut > 0 ? { container: rel.slice(0, cut), blob: rel.slice(cut + 1) } : null;
}

export async function jobsView({ rg, name }, query, ctx) {
  const title = t('jobs.title');
  setTitle(`${title} - ${name}`);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const statusSel = select([{ value: '', label: t('common.all') }, ...STATUSES.map((s) => ({ value: s, label: tOr(`status.${s}`, s) }))], query.get('status') || '');
  const opSel = select([{ value: '', label: t('common.all') }, ...OPERATIONS.map((o) => ({ value: o, label: opLabel(o) }))], query.get('operation') || '');
  const itemFilter = h('input', { type: 'search', class: 'filter', value: query.get('item') || '', placeholder: t('common.filterPlaceholder') });
  const holder = h('div');
  const updated = h('p', { class: 'muted', role: 'status' });
  let jobs = [];

  const draw = () => {
    const q = itemFilter.value.trim().toLowerCase();
    const shown = jobs.filter((j) => (!statusSel.value || j.properties.status === statusSel.value)
      && (!opSel.value || j.properties.operation === opSel.value)
      && (!q || String(j.properties.entityFriendlyName).toLowerCase().includes(q)));
    holder.replaceChildren(table({
      caption: title,
      head: [t('jobs.workload'), t('jobs.operation'), t('jobs.status'), t('jobs.start'), t('jobs.duration'), t('common.progress'), h('span', { class: 'sr-only' }, t('common.actions'))],
      rows: shown.map((j) => {
        const p = j.properties;
        const pct = (p.extendedInfo || {}).progressPercentage;
        const link = `${href('vaults', rg, name)}/jobs/${encodeURIComponent(j.name)}`;
        return h('tr', { dataset: { job: j.name } },
          h('td', null, p.entityFriendlyName),
          h('td', null, opLabel(p.operation)),
          h('td', null, statusCell(p.status)),
          h('td', null, fmtDateTime(p.startTime)),
          h('td', null, fmtDuration(p.duration)),
          h('td', null, pct === undefined || pct === null ? '—' : progress(pct, t('jobs.progressOf', { op: opLabel(p.operation), name: p.entityFriendlyName }))),
          h('td', null, h('a', { href: link, 'aria-label': t('jobs.detailsOf', { op: opLabel(p.operation), name: p.entityFriendlyName }) }, t('jobs.viewDetails'))));
      }),
      empty: t('jobs.empty'),
    }));
  };

  async function refresh() {
    jobs = await list(`${vp}/backupJobs`, BACKUP_API);
    if (!ctx.alive) return false;
    updated.textContent = t('jobs.updated', { time: fmtDateTime(new Date().toISOString()) });
    draw();
    return jobs.some((j) => running(j.properties.status));
  }

  try {
    await refresh();
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  for (const c of [statusSel, opSel]) c.addEventListener('change', draw);
  itemFilter.addEventListener('input', draw);
  // The list follows the vault while it is shown: every second while a
  // job runs, every five otherwise, so that a job started elsewhere (a
  // schedule, another tab, the CLI) appears by itself.
  const poller = ctx.pollWhileVisible(refresh, 1000, 5000);
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [title]),
    title,
    subtitle: name,
    menu: vaultMenu(rg, name, 'jobs'),
    tools: toolbar([{
      label: t('common.refresh'),
      icon: 'refresh',
      onClick: async () => {
        if (await refresh()) poller.busy();
      },
    }]),
    body: [
      h('div', { class: 'filters' },
        field({ label: t('jobs.status'), control: statusSel }),
        field({ label: t('jobs.operation'), control: opSel }),
        field({ label: t('jobs.workload'), control: itemFilter })),
      updated,
      holder,
    ],
  }));
  poller.start(jobs.some((j) => running(j.properties.status)));
}

/**
 * The recovery point a job names (by its id), as {time, href} of the
 * item's page; null when the job names none or it is gone.
 */
async function recoveryPointOf(vp, base, p, id) {
  if (!id || !p.containerName) return null;
  const parts = p.containerName.split(';');
  const container = /^iaasvmcontainer$/i.test(parts[0]) ? p.containerName : `IaasVMContainer;${p.containerName}`;
  const item = `VM;${container.split(';').slice(1).join(';')}`;
  const itemPath = `${vp}/backupFabrics/Azure/protectionContainers/${encodeURIComponent(container)}/protectedItems/${encodeURIComponent(item)}`;
  try {
    const rp = await get(`${itemPath}/recoveryPoints/${encodeURIComponent(id)}`, BACKUP_API);
    return {
      time: rp.properties.recoveryPointTime,
      href: `${base}/items/${encodeURIComponent(container)}/${encodeURIComponent(item)}`,
    };
  } catch {
    return null;
  }
}

export async function jobView({ rg, name, job }, query, ctx) {
  const title = t('jobs.details');
  setTitle(title);
  loading(ctx, title);
  const vp = vaultPath(rg, name);
  const path = `${vp}/backupJobs/${encodeURIComponent(job)}`;
  const j = await orShowError(ctx, title, () => get(path, BACKUP_API));
  if (j === undefined) return;
  const reload = () => ctx.alive && jobView({ rg, name, job }, query, ctx);
  const p = j.properties;
  const ext = p.extendedInfo || {};
  const cancellable = (p.actionsInfo || []).includes('Cancellable');
  const errors = p.errorDetails || [];
  // A disk restored as a managed disk is named by the disk (its image is
  // the server's business); the image's row goes.
  const managedOf = (k) => (k === 'OS disk' ? 'Managed Disk (OS)' : k.replace(/^Data disk (\(LUN \d+\))$/, 'Managed Disk $1'));
  const rawBag = ext.propertyBag || {};
  const bag = Object.entries(rawBag).filter(([k]) => managedOf(k) === k || !(managedOf(k) in rawBag));
  const point = await recoveryPointOf(vp, href('vaults', rg, name), p, (ext.propertyBag || {})['Recovery Point']);
  const storage = await restoredInto(ext.propertyBag || {});
  if (!ctx.alive) return;
  const bagCell = (k, v) => {
    if (k === 'Recovery Point' && point) return h('td', { title: String(v) }, h('a', { href: point.href }, fmtDateTime(point.time)));
    if (storage && k === 'Target Storage Account Name') return h('td', null, h('a', { href: accountHref(storage.rg, storage.name) }, String(v)));
    if (storage && k === 'Config Blob Container Name') return h('td', null, h('a', { href: accountHref(storage.rg, storage.name, String(v)) }, String(v)));
    if (/^Managed Disk /.test(k)) return h('td', { class: 'mono', title: String(v) }, parseId(String(v)).name || String(v));
    const blob = blobOf(storage, v);
    if (blob) return h('td', { class: 'mono' }, h('a', { href: accountHref(storage.rg, storage.name, blob.container) }, `${blob.container}/${blob.blob}`));
    return h('td', { class: 'mono', title: String(v) }, bagValue(v));
  };
  show(ctx, blade({
    crumbs: vaultCrumbs(rg, name, [t('jobs.title'), `${href('vaults', rg, name)}/jobs`], [`${opLabel(p.operation)} - ${p.entityFriendlyName}`]),
    title: `${opLabel(p.operation)} - ${p.entityFriendlyName}`,
    subtitle: title,
    menu: vaultMenu(rg, name, 'jobs'),
    tools: toolbar([
      { label: t('common.refresh'), icon: 'refresh', onClick: reload },
      {
        label: t('jobs.cancel'),
        icon: 'cancel',
        disabled: !cancellable,
        onClick: async () => {
          const ok = await confirmDialog({ title: t('jobs.cancel'), message: t('jobs.cancelConfirm', { name: p.entityFriendlyName }), confirmLabel: t('jobs.cancel') });
          if (!ok) return;
          try {
            const r = await request('POST', `${path}/cancel`, { apiVersion: BACKUP_API });
            await waitOperation(r, BACKUP_API);
            notify({ title: t('jobs.cancelled', { name: p.entityFriendlyName }), status: 'success' });
          } catch (e) {
            notify({ title: t('jobs.cancelFailed'), message: e.message, status: 'error' });
          }
          reload();
        },
      },
    ]),
    body: [
      essentials([
        [t('jobs.status'), statusCell(p.status)],
        [t('jobs.operation'), opLabel(p.operation)],
        [t('jobs.workload'), p.entityFriendlyName],
        [t('jobs.start'), fmtDateTime(p.startTime)],
        [t('jobs.end'), fmtDateTime(p.endTime)],
        [t('jobs.duration'), fmtDuration(p.duration)],
        [t('common.progress'), progress(ext.progressPercentage || 0, t('jobs.progressOf', { op: opLabel(p.operation), name: p.entityFriendlyName }))],
      ], t('common.essentials')),
      errors.length ? h('section', { class: 'error-box', 'aria-labelledby': 'job-errors' },
        h('h2', { id: 'job-errors' }, t('jobs.errors')),
        errors.map((e) => h('div', { class: 'job-error' },
          h('p', null, h('strong', null, `${t('jobs.errorCode')}: `), e.errorCode),
          h('p', null, h('strong', null, `${t('jobs.errorMessage')}: `), ...jobErrorText(e)),
          (e.recommendations || []).length ? h('div', null, h('strong', null, `${t('jobs.recommendations')}:`),
            h('ul', null, [...new Set(e.recommendations.map((r) => recommendationText(e.errorCode, r)))].map((r) => h('li', null, r)))) : null))) : null,
      h('h2', null, t('jobs.tasks')),
      table({
        caption: t('jobs.tasks'),
        head: [t('jobs.task'), t('jobs.status'), t('common.progress'), t('jobs.duration')],
        rows: (ext.tasksList || []).map((x) => h('tr', null,
          h('td', null, tOr(`task.${x.taskId}`, x.taskId)),
          h('td', null, statusCell(x.status)),
          h('td', null, progress(x.progressPercentage || 0, `${tOr(`task.${x.taskId}`, x.taskId)}: ${t('common.progress')}`)),
          h('td', null, fmtDuration(x.duration)))),
        empty: '—',
      }),
      h('h2', null, t('jobs.propertyBag')),
      table({
        caption: t('jobs.propertyBag'),
        head: [t('jobs.property'), t('jobs.value')],
        rows: bag.map(([k, v]) => h('tr', null, h('td', null, bagLabel(k)), bagCell(k, v))),
        empty: '—',
      }),
    ],
  }));
  if (running(p.status)) ctx.poll(() => { reload(); return false; }, 1000);
}
