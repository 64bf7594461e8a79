// Hypervisor hosts that run the rsvault agent (Microsoft.HybridCompute/
// machines, as Azure Arc shows servers): each host's agent status, last
// heartbeat, version and VMs, refreshed live; and the one-time enrolment
// token a new host's agent takes (`rsvault agent --enroll`).

import { h, field, select, table, errorSlot } from '../dom.js';
import { t, regionName, fmtDateTime, errorText } from '../i18n.js';
import { list, request, subPath, parseId, listResourceGroups } from '../api.js';
import { show, loading, blade, toolbar, setTitle, orShowError } from '../layout.js';
import { REGIONS } from './vaults.js';

export const HYBRID_API = '2024-07-10';

function statusCell(m) {
  const s = m.properties.status || 'Disconnected';
  const e = (m.properties.errorDetails || [])[0];
  const detail = e && e.message ? errorText(e.code, e.message) : null;
  return h('td', { class: `status status-${s.toLowerCase()}`, title: detail || null },
    t(`hosts.status.${s}`), detail ? h('div', { class: 'muted small' }, detail) : null);
}

function hostRows(machines) {
  return machines.map((m) => h('tr', { 'data-host': m.name },
    h('td', null, m.name),
    h('td', null, parseId(m.id).resourceGroup),
    h('td', null, regionName(m.location)),
    statusCell(m),
    h('td', null, m.properties.lastStatusChange ? fmtDateTime(m.properties.lastStatusChange) : '—'),
    h('td', null, m.properties.agentVersion || '—'),
    h('td', null, (m.properties.detectedProperties || {}).vmCount || '0')));
}

/** The enrolment form: a resource group and region, then the token and the command to run on the host. */
function enrolForm(groups) {
  const rgInput = h('input', { type: 'text', list: 'host-rgs', value: groups[0] || 'rg-kvm1', autocomplete: 'off' });
  const rgField = field({ label: t('common.resourceGroup'), control: rgInput, required: true, hint: t('hosts.rgHint') });
  const region = select(REGIONS.map((r) => ({ value: r, label: regionName(r) })), 'japaneast');
  const regionField = field({ label: t('common.location'), control: region, required: true });
  const minutes = h('input', { type: 'number', min: '1', max: '1440', value: '60' });
  const minutesField = field({ label: t('hosts.expires'), control: minutes });
  const out = h('div', { class: 'enrol-token', 'aria-live': 'polite' });
  const formError = errorSlot();
  const make = h('button', { type: 'submit', class: 'primary' }, t('hosts.makeToken'));
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': t('hosts.enrolTitle') },
    h('h2', null, t('hosts.enrolTitle')),
    h('p', { class: 'muted' }, t('hosts.enrolIntro')),
    h('datalist', { id: 'host-rgs' }, groups.map((g) => h('option', { value: g }))),
    rgField, regionField, minutesField, formError,
    h('div', { class: 'form-actions' }, make), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.set('');
    const rg = rgInput.value.trim();
    rgField.setError(rg ? '' : t('hosts.err.rg'));
    if (!rg) {
      rgInput.focus();
      return;
    }
    make.disabled = true;
    try {
      const r = await request('POST', `${subPath()}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.HybridCompute/enrollmentTokens`,
        { apiVersion: HYBRID_API, body: { location: region.value, expiresInMinutes: Number(minutes.value) || 60 } });
      const tok = r.body;
      const cmd = `rsvault agent --server ${location.origin} --enroll '${tok.token}' --state-dir /var/lib/rsvault-agent`;
      out.replaceChildren(
        h('p', null, t('hosts.tokenMade', { rg: tok.resourceGroup, region: regionName(tok.location), time: fmtDateTime(tok.expiresOn) })),
        field({ label: t('hosts.command'), control: h('textarea', { readonly: true, rows: 3, class: 'mono', 'data-token': tok.token }, cmd) }),
        h('p', { class: 'muted small' }, t('hosts.pin', { sha: tok.serverCertificateSha256 })));
    } catch (err) {
      formError.set(err.message);
    } finally {
      make.disabled = false;
    }
  });
  return form;
}

export async function hostListView(params, query, ctx) {
  const title = t('nav.hosts');
  setTitle(title);
  loading(ctx, title);
  const path = `${subPath()}/providers/Microsoft.HybridCompute/machines`;
  const machines = await orShowError(ctx, title, () => list(path, HYBRID_API));
  if (machines === undefined) return;
  const groups = await listResourceGroups().then((g) => g.map((x) => x.name)).catch(() => []);
  const head = [t('common.name'), t('common.resourceGroup'), t('common.location'), t('hosts.agentStatus'),
    t('hosts.lastHeartbeat'), t('hosts.agentVersion'), t('hosts.vms')];
  const holder = h('div');
  const draw = (ms) => holder.replaceChildren(table({ caption: title, head, rows: hostRows(ms), empty: t('hosts.empty') }));
  draw(machines);
  ctx.poll(async () => {
    draw(await list(path, HYBRID_API));
  }, 5000);
  show(ctx, blade({
    crumbs: [[title, '#/hosts']],
    title,
    subtitle: t('hosts.intro'),
    tools: toolbar([{ label: t('common.refresh'), icon: 'refresh', onClick: () => hostListView(params, query, ctx) }]),
    body: [holder, enrolForm(groups)],
  }));
}
