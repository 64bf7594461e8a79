// All services (すべてのサービス): the seed's first step — type a service's
// name in the filter and pick it. Names match in either language (users
// type "Virtual machines" or "Recovery Services" in the Japanese portal
// too), as you type.

import { h, field } from '../dom.js';
import { t } from '../i18n.js';
import { messages } from '../messages.js';
import { show, setTitle } from '../layout.js';
import { icon } from '../icons.js';

/** The services the portal has: [message key of the name, link, icon]. */
export const SERVICES = [
  ['nav.vaults', '#/vaults', 'vault'],
  ['nav.vms', '#/vms', 'vm'],
  ['nav.hosts', '#/hosts', 'vm'],
  ['nav.storage', '#/storage', 'storage'],
];

/** Whether `query` matches the service named by `key`, in any language. */
export function serviceMatches(key, query) {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return Object.values(messages).some((m) => String(m[key] || '').toLowerCase().includes(q));
}

export function servicesView(params, query, ctx) {
  const title = t('nav.allServices');
  setTitle(title);
  const filter = h('input', { type: 'search', class: 'filter wide', value: query.get('filter') || '', spellcheck: 'false', autocomplete: 'off' });
  const results = h('ul', { class: 'service-list', 'aria-live': 'polite' });
  const draw = () => {
    const shown = SERVICES.filter(([key]) => serviceMatches(key, filter.value));
    results.replaceChildren(...(shown.length
      ? shown.map(([key, link, ic]) => h('li', null, h('a', { href: link }, icon(ic, 'icon nav-icon'), h('span', null, t(key)))))
      : [h('li', { class: 'muted' }, t('services.none'))]));
  };
  filter.addEventListener('input', draw);
  draw();
  show(ctx, h('div', { class: 'page' },
    h('h1', { tabindex: '-1' }, title),
    field({ label: t('services.filter'), control: filter, hint: t('services.filterHint') }),
    results));
  filter.focus();
}
