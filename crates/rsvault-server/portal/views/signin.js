// Sign-in: the server's admin token (kept in sessionStorage) and the
// subscription to work in.

import { h, field } from '../dom.js';
import { t } from '../i18n.js';
import { session, request, subPath, VAULT_API, DEFAULT_SUBSCRIPTION } from '../api.js';
import { show, setTitle } from '../layout.js';
import { navigate } from '../router.js';

export function signInView(params, query, ctx) {
  setTitle(t('signin.title'));
  const token = h('input', { type: 'password', autocomplete: 'current-password', spellcheck: 'false', class: 'wide' });
  const sub = h('input', { type: 'text', value: sessionStorage.getItem('rsvault.subscription') || DEFAULT_SUBSCRIPTION, spellcheck: 'false', class: 'wide' });
  const tokenField = field({ label: t('signin.token'), control: token, required: true, hint: t('signin.tokenHint') });
  const subField = field({ label: t('common.subscription'), control: sub, required: true, hint: t('signin.subHint') });
  const button = h('button', { type: 'submit', class: 'primary' }, t('signin.submit'));
  const form = h('form', { class: 'signin-form', novalidate: true },
    query.get('expired') ? h('p', { class: 'error-box', role: 'alert' }, t('signin.expired')) : null,
    tokenField, subField,
    h('details', { class: 'help' },
      h('summary', null, t('signin.where')),
      h('p', null, t('signin.whereText')),
      h('pre', null, h('code', null, 'cat <data-dir>/admin-token')),
      h('p', null, t('signin.whereDefault')),
      h('pre', null, h('code', null, 'cat ~/.local/share/rsvault/admin-token'))),
    h('div', { class: 'form-actions' }, button));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    tokenField.setError('');
    subField.setError('');
    const tok = token.value.trim();
    const s = sub.value.trim();
    let bad = false;
    if (!tok) {
      tokenField.setError(t('signin.err.token'));
      bad = true;
    }
    if (!s || s.includes('/')) {
      subField.setError(t('signin.err.sub'));
      bad = true;
    }
    if (bad) {
      form.querySelector('[aria-invalid="true"]').focus();
      return;
    }
    button.disabled = true;
    session.signIn(tok, s);
    try {
      await request('GET', `${subPath(s)}/providers/Microsoft.RecoveryServices/vaults`, { apiVersion: VAULT_API });
    } catch (err) {
      session.signOut();
      button.disabled = false;
      tokenField.setError(err.status === 401 ? t('signin.err.rejected') : err.message);
      token.focus();
      return;
    }
    const next = query.get('next');
    navigate(next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/vaults');
  });

  show(ctx, h('div', { class: 'page signin' },
    h('div', { class: 'card signin-card' },
      h('h1', { tabindex: '-1' }, t('signin.title')),
      h('p', null, t('signin.intro')),
      form)));
  token.focus();
}
