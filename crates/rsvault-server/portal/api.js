// The ARM REST API of `rsvault serve`, as Azure's clients use it: bearer
// token, api-version, the {"error": {code, message}} envelope, nextLink
// paging and long-running operations (Azure-AsyncOperation / Location).

import { sleep } from './dom.js';
import { errorText } from './i18n.js';

export const DEFAULT_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';
export const VAULT_API = '2026-07-01';
export const BACKUP_API = '2026-08-01';
export const COMPUTE_API = '2026-04-01';
/** The secondary region's view of a geo-redundant vault (the passive stamp). */
export const CRR_API = '2021-11-15';
export const RESOURCES_API = '2021-04-01';
export const SUBSCRIPTIONS_API = '2022-12-01';

const TOKEN = 'rsvault.token';
const SUB = 'rsvault.subscription';
const SUBS = 'rsvault.subscriptions';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN) || '';
  },
  get subscription() {
    return sessionStorage.getItem(SUB) || DEFAULT_SUBSCRIPTION;
  },
  signIn(token, subscription) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(SUB, subscription || DEFAULT_SUBSCRIPTION);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(SUBS);
  },
  /** The subscriptions the signed-in caller can see, as sign-in listed them. */
  get subscriptions() {
    try {
      const l = JSON.parse(sessionStorage.getItem(SUBS) || '[]');
      return Array.isArray(l) ? l : [];
    } catch {
      return [];
    }
  },
  set subscriptions(list) {
    sessionStorage.setItem(SUBS, JSON.stringify(list));
  },
  /** Works in `subscription` from now on. */
  use(subscription) {
    sessionStorage.setItem(SUB, subscription);
  },
};

/**
 * The subscriptions the caller holds a role in (GET /subscriptions), as
 * {id, name}, sorted by name.
 */
export async function listSubscriptions() {
  const subs = await list('/subscriptions', SUBSCRIPTIONS_API);
  return subs
    .map((s) => ({ id: s.subscriptionId, name: s.displayName || s.subscriptionId }))
    .filter((s) => s.id)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The subscription to work in after sign-in: the one used last, if the
 * caller still sees it, else the first it sees.
 */
export function pickSubscription(subs, remembered) {
  if (remembered && subs.some((s) => s.id.toLowerCase() === remembered.toLowerCase())) return remembered;
  return subs.length ? subs[0].id : remembered || DEFAULT_SUBSCRIPTION;
}

/**
 * Logs in at the server's token endpoint, as Entra ID's: a user name
 * (name@domain) with its password (the password grant), else a service
 * principal's app id with its secret (client credentials). Resolves to the
 * access token. Rejects with an Error whose `status` is the HTTP status and
 * `oauth` the OAuth2 error code.
 */
export async function logIn(id, secret) {
  const scope = 'https://management.azure.com/.default';
  const form = new URLSearchParams(id.includes('@')
    ? { grant_type: 'password', client_id: 'rsvault-portal', username: id, password: secret, scope }
    : { grant_type: 'client_credentials', client_id: id, client_secret: secret, scope });
  const resp = await fetch('/organizations/oauth2/v2.0/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form,
    credentials: 'omit',
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok || !body.access_token) {
    const e = new Error(body.error_description || `HTTP ${resp.status}`);
    e.status = resp.status;
    e.oauth = body.error || '';
    throw e;
  }
  return body.access_token;
}

let unauthorized = () => {};
/** Called with the error when the server answers 401 (token missing or wrong). */
export function onUnauthorized(f) {
  unauthorized = f;
}

/**
 * A refused request. `message` is in the page's language (the code's own
 * wording, or the server's text marked as such); `serverMessage` is the
 * server's text as it came.
 */
export class ArmError extends Error {
  constructor(status, code, message, recommendations = []) {
    super(errorText(code, message));
    this.status = status;
    this.code = code;
    this.serverMessage = message;
    this.recommendations = recommendations;
  }
}

/** Encodes one path segment (Azure's names keep their ';'). */
export function seg(s) {
  return encodeURIComponent(s).replace(/%3B/gi, ';');
}

/** The path (and query) of an absolute URL the server handed out. */
function toPath(u) {
  if (/^https?:\/\//i.test(u)) {
    const x = new URL(u);
    return x.pathname + x.search;
  }
  return u;
}

/** One request; non-2xx answers throw ArmError. */
export async function request(method, path, { body, query, apiVersion } = {}) {
  let url = toPath(path);
  const params = new URLSearchParams();
  if (apiVersion && !/[?&]api-version=/i.test(url)) params.set('api-version', apiVersion);
  for (const [k, v] of Object.entries(query || {})) if (v) params.set(k, v);
  const qs = params.toString();
  if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  const headers = { Authorization: `Bearer ${session.token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ArmError(0, 'NetworkError', String(e && e.message ? e.message : e));
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) {
    const e = json && json.error;
    const err = new ArmError(resp.status, (e && e.code) || `HttpError${resp.status}`,
      (e && e.message) || text.trim() || `HTTP ${resp.status}`, (e && e.recommendations) || []);
    if (resp.status === 401) unauthorized(err);
    throw err;
  }
  return { status: resp.status, headers: resp.headers, body: json };
}

export async function get(path, apiVersion) {
  return (await request('GET', path, { apiVersion })).body;
}

export const AUTH_API = '2022-04-01';

/** Whether an RBAC action matches a pattern: any case, `*` any run of characters. */
export function actionMatches(pattern, action) {
  const parts = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`, 'i').test(action);
}

/**
 * What the signed-in principal may do at a scope, from Azure's
 * `Microsoft.Authorization/permissions`: a test of an action. The portal
 * disables what it may not do (the server refuses it all the same).
 */
export async function permissionsAt(scope) {
  let blocks;
  try {
    blocks = await list(`${scope}/providers/Microsoft.Authorization/permissions`, AUTH_API);
  } catch {
    return () => true;
  }
  return (action) => blocks.some((b) => (b.actions || []).some((p) => actionMatches(p, action))
    && !(b.notActions || []).some((p) => actionMatches(p, action)));
}

/** The RBAC actions the portal's commands need. */
export const ACTIONS = {
  protect: 'Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write',
  backupNow: 'Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action',
  deleteItem: 'Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete',
  restore: 'Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/restore/action',
  verify: 'Microsoft.RecoveryServices/Vaults/backupValidateOperation/action',
  deleteVault: 'Microsoft.RecoveryServices/Vaults/delete',
  writeVault: 'Microsoft.RecoveryServices/Vaults/write',
  writePolicy: 'Microsoft.RecoveryServices/Vaults/backupPolicies/write',
  deletePolicy: 'Microsoft.RecoveryServices/Vaults/backupPolicies/delete',
  writeConfig: 'Microsoft.RecoveryServices/Vaults/backupstorageconfig/write',
  cancelJob: 'Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action',
};

/** GET of a list, following nextLink. */
export async function list(path, apiVersion, filter) {
  const out = [];
  let page = (await request('GET', path, { apiVersion, query: filter ? { $filter: filter } : {} })).body;
  for (let i = 0; i < 1000 && page; i++) {
    out.push(...(page.value || []));
    if (!page.nextLink) break;
    page = (await request('GET', page.nextLink)).body;
  }
  return out;
}

function retryAfter(r) {
  const s = Number(r.headers.get('Retry-After'));
  return Math.min(Math.max(Number.isFinite(s) && s > 0 ? s : 1, 1), 10) * 1000;
}

/**
 * Follows a long-running operation to its end: polls Azure-AsyncOperation
 * while the status is InProgress (a Failed or Canceled operation throws its
 * error), else polls Location while it answers 202. Returns the final body.
 */
export async function waitOperation(reply, apiVersion = BACKUP_API) {
  if (reply.status !== 202 && reply.status !== 201) return reply.body;
  const ao = reply.headers.get('Azure-AsyncOperation');
  const loc = reply.headers.get('Location');
  if (ao) {
    for (;;) {
      const r = await request('GET', ao, { apiVersion });
      const st = String((r.body && r.body.status) || '');
      if (/^inprogress$/i.test(st)) {
        await sleep(retryAfter(r));
        continue;
      }
      if (/^(failed|canceled|cancelled)$/i.test(st)) {
        const e = (r.body && r.body.error) || {};
        throw new ArmError(200, e.code || st, e.message || st);
      }
      return r.body;
    }
  }
  if (loc) {
    let wait = reply;
    for (;;) {
      const r = await request('GET', loc, { apiVersion });
      if (r.status !== 202) return r.body;
      await sleep(retryAfter(wait));
      wait = r;
    }
  }
  return reply.body;
}

// ----- paths -----

export function subPath(sub = session.subscription) {
  return `/subscriptions/${seg(sub)}`;
}

export function vaultPath(rg, name, sub = session.subscription) {
  return `${subPath(sub)}/resourceGroups/${seg(rg)}/providers/Microsoft.RecoveryServices/vaults/${seg(name)}`;
}

export function itemPath(vp, container, item) {
  return `${vp}/backupFabrics/Azure/protectionContainers/${seg(container)}/protectedItems/${seg(item)}`;
}

/** Splits an ARM id into {subscription, resourceGroup, provider, type, name} and named children. */
export function parseId(id) {
  const s = (id || '').split('/').filter(Boolean);
  const out = {};
  for (let i = 0; i + 1 < s.length; i += 2) {
    const k = s[i].toLowerCase();
    if (k === 'subscriptions') out.subscription = s[i + 1];
    else if (k === 'resourcegroups') out.resourceGroup = s[i + 1];
    else if (k === 'providers') {
      out.provider = s[i + 1];
      if (s[i + 2]) {
        out.type = s[i + 2];
        out.name = s[i + 3];
      }
      i += 2;
    } else out[k] = s[i + 1];
  }
  return out;
}

/** The segment after `key` in an ARM id. */
export function after(id, key) {
  const s = (id || '').split('/');
  const i = s.findIndex((x) => x.toLowerCase() === key.toLowerCase());
  return i >= 0 ? s[i + 1] : undefined;
}

// ----- calls the portal makes -----

export function listVaults() {
  return list(`${subPath()}/providers/Microsoft.RecoveryServices/vaults`, VAULT_API);
}

/** The subscription's resource groups (Microsoft.Resources), sorted by name. */
export async function listResourceGroups(sub = session.subscription) {
  const groups = await list(`${subPath(sub)}/resourcegroups`, RESOURCES_API);
  return groups.sort((a, b) => a.name.localeCompare(b.name));
}

export async function listVms() {
  const [arm, classic] = await Promise.all([
    list(`${subPath()}/providers/Microsoft.Compute/virtualMachines`, COMPUTE_API),
    list(`${subPath()}/providers/Microsoft.ClassicCompute/virtualMachines`, COMPUTE_API),
  ]);
  return [...arm, ...classic].sort((a, b) => a.name.localeCompare(b.name));
}

export function vmPath(provider, rg, name) {
  const ns = provider === 'classic' ? 'Microsoft.ClassicCompute' : 'Microsoft.Compute';
  return `${subPath()}/resourceGroups/${seg(rg)}/providers/${ns}/virtualMachines/${seg(name)}`;
}

export const STATUS_API = '2023-04-01';

/**
 * Where a VM is protected: {vault, item} or null. Asks the region's
 * backupStatus (as Azure's VM Backup blade does) rather than reading the
 * protected items of every vault; a stopped or soft-deleted item counts.
 */
export async function findProtection(vm) {
  const r = await request('POST', `${subPath()}/providers/Microsoft.RecoveryServices/locations/${seg(vm.location)}/backupStatus`, {
    apiVersion: STATUS_API,
    body: { resourceType: 'VM', resourceId: vm.id },
  });
  const st = r.body || {};
  if (!st.vaultId || !st.protectionStatus || /^notprotected$/i.test(st.protectionStatus)) return null;
  const ip = `${toPath(st.vaultId)}/backupFabrics/${seg(st.fabricName || 'Azure')}/protectionContainers/${seg(st.containerName)}/protectedItems/${seg(st.protectedItemName)}`;
  const [vault, item] = await Promise.all([get(st.vaultId, VAULT_API), get(ip, BACKUP_API)]);
  return { vault, item };
}

/** The job an accepted backup-operation names, after waiting for the operation. */
export async function jobOf(reply) {
  const st = await waitOperation(reply, BACKUP_API);
  return (st && st.properties && st.properties.jobId) || null;
}
