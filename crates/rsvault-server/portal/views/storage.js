// Storage accounts (Microsoft.Storage/storageAccounts): where Restore disks
// puts a VM's disks and its vmconfig.json. An account lists its containers
// (one per restore of disks) and a container its blobs, so a user finds
// what a restore wrote without knowing the server's folders.

import { h, table, essentials } from '../dom.js';
import { t, tOr, regionName, fmtDateTime, fmtBytes } from '../i18n.js';
import { get, list, subPath, parseId } from '../api.js';
import { show, loading, blade, toolbar, setTitle, orShowError } from '../layout.js';
import { href } from '../router.js';

export const STORAGE_API = '2025-06-01';

/** The ARM path of an account. */
export function accountPath(rg, name) {
  return `${subPath()}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.Storage/storageAccounts/${encodeURIComponent(name)}`;
}

/** The portal link of an account, or of one of its containers. */
export function accountHref(rg, name, container) {
  return container ? href('storage', rg, name, 'containers', container) : href('storage', rg, name);
}

/** The accounts of the subscription. */
export function listAccounts() {
  return list(`${subPath()}/providers/Microsoft.Storage/storageAccounts`, STORAGE_API);
}

/** The folder an account's endpoint names (file:///…/name/ → /…/name/). */
export function accountFolder(a) {
  const blob = ((a.properties || {}).primaryEndpoints || {}).blob || '';
  return blob.startsWith('file://') ? decodeURI(blob.slice('file://'.length)) : null;
}

const skuLabel = (sku) => tOr(`storage.sku.${sku}`, sku);
const kindLabel = (kind) => tOr(`storage.kind.${kind}`, kind);

/** What a restored file holds, by its content type. */
function contentLabel(b) {
  const ct = (b.properties || {}).contentType;
  if (ct === 'application/json') return t('storage.content.config');
  if (ct === 'application/xml') return t('storage.content.domain');
  return t('storage.content.disk');
}

export async function storageListView(params, query, ctx) {
  const title = t('nav.storage');
  setTitle(title);
  loading(ctx, title);
  const accounts = await orShowError(ctx, title, listAccounts);
  if (accounts === undefined) return;
  const rows = accounts.map((a) => {
    const rg = parseId(a.id).resourceGroup;
    return h('tr', null,
      h('td', null, h('a', { href: accountHref(rg, a.name) }, a.name)),
      h('td', null, rg),
      h('td', null, regionName(a.location)),
      h('td', null, skuLabel((a.sku || {}).name)),
      h('td', null, fmtDateTime((a.properties || {}).creationTime)));
  });
  show(ctx, blade({
    crumbs: [[title, '#/storage']],
    title,
    subtitle: t('storage.intro'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => storageListView(params, query, ctx) }]),
    body: table({
      caption: title,
      head: [t('common.name'), t('common.resourceGroup'), t('common.location'), t('storage.redundancy'), t('storage.created')],
      rows,
      empty: t('storage.empty'),
    }),
  }));
}

export async function storageAccountView({ rg, name }, query, ctx) {
  setTitle(name);
  loading(ctx, name);
  const path = accountPath(rg, name);
  const loaded = await orShowError(ctx, name, () => Promise.all([
    get(path, STORAGE_API),
    list(`${path}/blobServices/default/containers`, STORAGE_API),
  ]));
  if (loaded === undefined) return;
  const [a, containers] = loaded;
  const title = t('nav.storage');
  show(ctx, blade({
    crumbs: [[title, '#/storage'], [name]],
    title: name,
    subtitle: t('storage.account'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => storageAccountView({ rg, name }, query, ctx) }]),
    body: [
      essentials([
        [t('common.resourceGroup'), rg],
        [t('common.location'), regionName(a.location)],
        [t('storage.redundancy'), skuLabel((a.sku || {}).name)],
        [t('storage.kind'), kindLabel(a.kind)],
        [t('storage.created'), fmtDateTime((a.properties || {}).creationTime)],
      ], t('common.essentials')),
      h('h2', null, t('storage.containers')),
      table({
        caption: t('storage.containers'),
        head: [t('common.name'), t('storage.lastModified')],
        rows: containers.map((c) => h('tr', null,
          h('td', null, h('a', { href: accountHref(rg, name, c.name) }, c.name)),
          h('td', null, fmtDateTime((c.properties || {}).lastModifiedTime)))),
        empty: t('storage.containersEmpty'),
      }),
    ],
  }));
}

export async function containerView({ rg, name, container }, query, ctx) {
  setTitle(container);
  loading(ctx, container);
  const path = `${accountPath(rg, name)}/blobServices/default/containers/${encodeURIComponent(container)}`;
  const loaded = await orShowError(ctx, container, () => Promise.all([get(path, STORAGE_API), list(`${path}/blobs`, STORAGE_API)]));
  if (loaded === undefined) return;
  const [c, blobs] = loaded;
  show(ctx, blade({
    crumbs: [[t('nav.storage'), '#/storage'], [name, accountHref(rg, name)], [container]],
    title: container,
    subtitle: t('storage.container'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => containerView({ rg, name, container }, query, ctx) }]),
    body: [
      essentials([
        [t('storage.account'), h('a', { href: accountHref(rg, name) }, name)],
        [t('storage.lastModified'), fmtDateTime((c.properties || {}).lastModifiedTime)],
      ], t('common.essentials')),
      h('h2', null, t('storage.blobs')),
      table({
        caption: t('storage.blobs'),
        head: [t('common.name'), t('storage.content'), t('storage.blobType'), t('storage.size'), t('storage.lastModified')],
        rows: blobs.map((b) => h('tr', { 'data-blob': b.name },
          h('td', { class: 'mono' }, b.name),
          h('td', null, contentLabel(b)),
          h('td', null, tOr(`storage.blobType.${(b.properties || {}).blobType}`, (b.properties || {}).blobType || '—')),
          h('td', { class: 'num' }, fmtBytes((b.properties || {}).contentLength)),
          h('td', null, fmtDateTime((b.properties || {}).lastModified)))),
        empty: t('storage.blobsEmpty'),
      }),
    ],
  }));
}
