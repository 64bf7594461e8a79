// Recovery Services vaults: the list, and creating a vault.

import { h, field, select, table, newId, errorSlot, replace } from '../dom.js';
import { t, regionName } from '../i18n.js';
import { listVaults, listVms, listResourceGroups, listSubscriptions, parseId, request, vaultPath, session, VAULT_API } from '../api.js';
import { show, loading, showError, blade, toolbar, setTitle } from '../layout.js';
import { href, navigate } from '../router.js';
import { deployment } from '../notifications.js';

export const REGIONS = ['japaneast', 'japanwest', 'eastasia', 'southeastasia', 'koreacentral', 'centralindia', 'australiaeast',
  'westeurope', 'northeurope', 'uksouth', 'francecentral', 'germanywestcentral', 'eastus', 'eastus2', 'centralus', 'westus', 'westus2', 'canadacentral', 'brazilsouth'];

export const VAULT_NAME_RE = /^[A-Za-z][A-Za-z0-9-]{1,49}$/;
export const RG_RE = /^[-\w.()]{1,90}$/;

/** The vault-name rule, as the server states it; '' when the name is fine. */
export function vaultNameError(name, existing = []) {
  if (!name) return t('vault.err.nameRequired');
  if (!VAULT_NAME_RE.test(name)) return t('vault.err.name');
  if (existing.some((n) => n.toLowerCase() === name.toLowerCase())) return t('vault.err.nameExists');
  return '';
}

export function rgError(rg) {
  if (!rg) return t('vault.err.rgRequired');
  if (!RG_RE.test(rg) || rg.endsWith('.')) return t('vault.err.rg');
  return '';
}

/** Creates a vault (PUT), reporting it as a deployment. */
export async function createVault({ name, rg, location, subscription }) {
  const d = deployment(t('vault.deploying', { name }));
  try {
    const r = await request('PUT', vaultPath(rg, name, subscription), {
      apiVersion: VAULT_API,
      body: { location, sku: { name: 'Standard' }, properties: { publicNetworkAccess: 'Enabled' } },
    });
    d.succeeded(t('vault.deployed', { name }), { href: href('vaults', rg, name), label: t('notif.goToResource') });
    return r.body;
  } catch (e) {
    d.failed(e);
    throw e;
  }
}

export async function vaultListView(params, query, ctx) {
  setTitle(t('nav.vaults'));
  loading(ctx, t('nav.vaults'));
  let vaults;
  try {
    vaults = await listVaults();
  } catch (e) {
    showError(ctx, t('nav.vaults'), e);
    return;
  }
  const filter = h('input', { type: 'search', class: 'filter', placeholder: t('common.filterPlaceholder') });
  const tbody = h('div');
  const count = h('p', { class: 'muted', role: 'status' });
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = vaults.filter((v) => v.name.toLowerCase().includes(q));
    count.textContent = t('common.showing', { n: shown.length, total: vaults.length });
    tbody.replaceChildren(table({
      caption: t('nav.vaults'),
      head: [t('common.name'), t('common.resourceGroup'), t('common.location'), t('common.subscription')],
      rows: shown.map((v) => {
        const p = parseId(v.id);
        return h('tr', null,
          h('td', null, h('a', { href: href('vaults', p.resourceGroup, v.name) }, v.name)),
          h('td', null, p.resourceGroup),
          h('td', null, regionName(v.location)),
          h('td', null, p.subscription));
      }),
      empty: t('vaults.empty'),
    }));
  };
  filter.addEventListener('input', render);
  render();
  show(ctx, blade({
    crumbs: [[t('nav.vaults'), '#/vaults']],
    title: t('nav.vaults'),
    tools: toolbar([
      { label: t('common.add'), icon: 'plus', href: '#/vaults/create' },
      { label: t('common.refresh'), icon: 'refresh', onClick: () => vaultListView(params, query, ctx) },
    ]),
    body: [field({ label: t('common.filterByName'), control: filter }), count, tbody],
  }));
}

export async function vaultCreateView(params, query, ctx) {
  const title = t('vaults.createTitle');
  setTitle(title);
  loading(ctx, title);
  let vaults = [];
  let vms = [];
  let rgs = [];
  let subs = [];
  try {
    [vaults, vms, rgs, subs] = await Promise.all([listVaults(), listVms(), listResourceGroups(), listSubscriptions()]);
  } catch (e) {
    showError(ctx, title, e);
    return;
  }
  // The subscription's resource groups, as the server lists them.
  const groups = [...new Set(rgs.map((g) => g.name))];
  const regions = [...new Set([...REGIONS, ...vms.map((v) => v.location)])];
  const existingNames = vaults.map((v) => v.name);

  const name = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const nameField = field({ label: t('common.name'), control: name, required: true, hint: t('vault.nameHint') });
  // The subscriptions the caller can see (GET /subscriptions); the one
  // the portal works in first.
  if (!subs.some((s) => s.id.toLowerCase() === session.subscription.toLowerCase())) {
    subs.unshift({ id: session.subscription, name: session.subscription });
  }
  const sub = select(subs.map((s) => ({ value: s.id, label: s.name === s.id ? s.id : `${s.name} (${s.id})` })),
    subs.find((s) => s.id.toLowerCase() === session.subscription.toLowerCase()).id, { class: 'wide' });
  const subField = field({ label: t('common.subscription'), control: sub, required: true });

  const rgMode = groups.length ? 'existing' : 'new';
  const rgName = newId('rg');
  const rgNew = h('input', { type: 'radio', name: rgName, value: 'new', checked: rgMode === 'new' });
  const rgExisting = h('input', { type: 'radio', name: rgName, value: 'existing', checked: rgMode === 'existing', disabled: !groups.length });
  const rgSelect = select(groups.map((g) => ({ value: g, label: g })), query.get('rg') || groups[0], {});
  const rgText = h('input', { type: 'text', spellcheck: 'false' });
  const rgSelField = field({ label: t('vault.rgExisting'), control: rgSelect });
  const rgTextField = field({ label: t('vault.rgNewName'), control: rgText, required: true });
  const syncRg = () => {
    rgSelField.hidden = !rgExisting.checked;
    rgTextField.hidden = !rgNew.checked;
  };
  rgNew.addEventListener('change', syncRg);
  rgExisting.addEventListener('change', syncRg);
  syncRg();
  // Another subscription: its own resource groups.
  sub.addEventListener('change', async () => {
    let names = [];
    try {
      names = [...new Set((await listResourceGroups(sub.value)).map((g) => g.name))];
    } catch {
      names = [];
    }
    replace(rgSelect, ...names.map((g) => h('option', { value: g }, g)));
    rgExisting.disabled = !names.length;
    if (!names.length) rgNew.checked = true;
    syncRg();
  });
  const rgFieldset = h('fieldset', { class: 'field' },
    h('legend', null, t('common.resourceGroup'), h('span', { class: 'req', 'aria-hidden': 'true' }, ' *')),
    h('div', { class: 'radio-row' },
      h('label', null, rgNew, ' ', t('common.createNew')),
      h('label', null, rgExisting, ' ', t('common.useExisting'))),
    rgSelField, rgTextField);

  const byRegion = {};
  for (const v of vms) byRegion[v.location] = (byRegion[v.location] || 0) + 1;
  const busiest = Object.keys(byRegion).sort((a, b) => byRegion[b] - byRegion[a])[0];
  const defaultRegion = query.get('location') || busiest || 'japaneast';
  const loc = select(regions.map((r) => ({ value: r, label: regionName(r) })), defaultRegion);
  const locField = field({ label: t('common.location'), control: loc, required: true, hint: t('vault.locationHint') });

  const checkName = () => {
    const err = vaultNameError(name.value.trim(), existingNames);
    nameField.setError(name.value ? err : '');
    return err;
  };
  name.addEventListener('input', checkName);
  const create = h('button', { type: 'submit', class: 'primary' }, t('common.create'));
  const formError = errorSlot();
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': title },
    nameField, subField, rgFieldset, locField, formError,
    h('div', { class: 'form-actions' }, create, h('a', { class: 'button secondary', href: '#/vaults' }, t('common.cancel'))));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.set('');
    const nm = name.value.trim();
    const nErr = vaultNameError(nm, existingNames);
    nameField.setError(nErr);
    const s = sub.value;
    const rg = rgNew.checked ? rgText.value.trim() : rgSelect.value;
    const rErr = rgNew.checked ? rgError(rg) : '';
    rgTextField.setError(rErr);
    if (nErr || rErr) {
      const bad = form.querySelector('[aria-invalid="true"]');
      if (bad) bad.focus();
      return;
    }
    create.disabled = true;
    try {
      await createVault({ name: nm, rg, location: loc.value, subscription: s });
      // The vault list is the new vault's subscription's.
      session.use(s);
    } catch (err) {
      create.disabled = false;
      if (err.code === 'InvalidResourceName') {
        nameField.setError(err.message);
        name.focus();
      } else formError.set(err.message);
      return;
    }
    navigate('#/vaults');
  });

  show(ctx, blade({
    crumbs: [[t('nav.vaults'), '#/vaults'], [title]],
    title,
    subtitle: t('vaults.createIntro'),
    body: form,
  }));
  name.focus();
}
