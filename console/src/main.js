// The console's shell: hash routing between the pages (#/overview, #/topics, #/clients,
// #/tables, #/sql?q=...), the login form, and the live-connection badge.
//
// A page is {title, mount(root, params) -> cleanup}. Changing pages calls the old page's
// cleanup (timers, charts, listeners) and mounts the new one on an empty <main>. After a
// login or logout the current page is mounted again, so it reloads with the new credentials.
import './style.css';

import { AuthError, getCredentials, onCredentialsChange, query, setCredentials, setUnauthorizedHandler } from './api.js';
import { live } from './live.js';
import clients from './pages/clients.js';
import overview from './pages/overview.js';
import sql from './pages/sql.js';
import tables from './pages/tables.js';
import topics from './pages/topics.js';

const PAGES = { overview, topics, clients, tables, sql };
const root = document.getElementById('page');
let cleanup = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, search] = hash.split('?');
  const page = PAGES[name] ? name : 'overview';
  return { page, params: new URLSearchParams(search || '') };
}

function mount() {
  const { page, params } = route();
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.warn('cleanup of the page failed', e);
    }
    cleanup = null;
  }
  root.replaceChildren();
  root.dataset.page = page;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  document.title = `${PAGES[page].title} · mqbase`;
  cleanup = PAGES[page].mount(root, params) || null;
}

// --- login ---------------------------------------------------------------------------------

const overlay = document.getElementById('login');
const form = document.getElementById('login-form');
const userInput = document.getElementById('login-user');
const passwordInput = document.getElementById('login-password');
const loginError = document.getElementById('login-error');

function showLogin(message) {
  live.stop();
  overlay.hidden = false;
  loginError.hidden = !message;
  loginError.textContent = message || '';
  const c = getCredentials();
  if (c && !userInput.value) userInput.value = c.user;
  (userInput.value ? passwordInput : userInput).focus();
}

setUnauthorizedHandler(() => {
  if (overlay.hidden) showLogin(getCredentials() ? 'The user name or password was not accepted.' : '');
});

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = { user: userInput.value, password: passwordInput.value };
  const submit = document.getElementById('login-submit');
  submit.disabled = true;
  try {
    // A 403 is the ACL's say on db/query, which other pages may not need: the credentials
    // themselves were taken. A 401 was a wrong password; a 429 the failed-login throttle.
    await query('SELECT 1', undefined, c).catch((e) => {
      if (e instanceof AuthError || e.status !== 403) throw e;
    });
    overlay.hidden = true;
    passwordInput.value = '';
    setCredentials(c);
  } catch (e) {
    loginError.hidden = false;
    loginError.textContent = e instanceof AuthError ? 'The user name or password was not accepted.' : e.message;
  } finally {
    submit.disabled = false;
  }
});

document.getElementById('logout').addEventListener('click', () => {
  setCredentials(null);
});

function drawUser(c) {
  document.getElementById('user').hidden = !c;
  document.getElementById('user-name').textContent = c ? c.user : '';
}

onCredentialsChange((c) => {
  drawUser(c);
  mount();
});
drawUser(getCredentials());

// --- the live badge ------------------------------------------------------------------------

const badge = document.getElementById('live-status');
live.onStatus((s, error) => {
  badge.textContent = `live: ${s}`;
  badge.dataset.status = s;
  badge.title = error || 'MQTT over WebSocket at ' + live.url();
  if (s === 'refused' && overlay.hidden) showLogin(getCredentials() ? 'The broker refused the user name or password.' : '');
});

window.addEventListener('hashchange', mount);
mount();
