// The HTTP API as the pages use it: credentials, JSON calls, SQL.
//
// Credentials are kept in sessionStorage (gone when the tab closes) and sent as HTTP Basic on
// every call and in the MQTT CONNECT (live.js). A 401 calls the handler main.js set, which
// shows the login form. Calls are made with `credentials: 'omit'`: the browser then neither
// sends credentials of its own nor shows its own password dialog for the server's
// `WWW-Authenticate: Basic` challenge.

const KEY = 'mqbase.credentials';
let credentials = null;
try {
  credentials = JSON.parse(sessionStorage.getItem(KEY) || 'null');
} catch {
  credentials = null;
}
let onUnauthorized = () => {};
const listeners = new Set();

export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AuthError';
  }
}

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getCredentials() {
  return credentials;
}

export function setCredentials(c) {
  credentials = c;
  if (c) sessionStorage.setItem(KEY, JSON.stringify(c));
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn(c);
}

// fn(credentials) after every login and logout.
export function onCredentialsChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function authHeader(c) {
  // UTF-8 user and password, as the server reads them (charset="UTF-8" in its challenge).
  const bytes = new TextEncoder().encode(`${c.user}:${c.password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return 'Basic ' + btoa(bin);
}

// fetch() of an API path with the credentials; throws AuthError on 401 (after telling the
// login form), HttpError on another failure, with the server's reason.
export async function call(path, options = {}, c = credentials) {
  const headers = new Headers(options.headers || {});
  if (c) headers.set('Authorization', authHeader(c));
  const res = await fetch(path, { ...options, headers, credentials: 'omit', cache: 'no-store' });
  if (res.status === 401) {
    if (c === credentials) onUnauthorized();
    throw new AuthError('authentication required');
  }
  if (!res.ok) {
    let reason = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.reason) reason = body.reason;
    } catch {
      // not JSON: the status says it
    }
    throw new HttpError(res.status, reason);
  }
  return res;
}

export async function getJSON(path) {
  return (await call(path)).json();
}

// Runs one SQL statement; resolves to {columns, types, rows} with times in milliseconds since
// the epoch. Rejects with the server's reason and, for an HTTP error, its `status` (an answer
// that failed after its first rows has success=false at its end, and is a failure too).
export async function query(sql, params, c = credentials) {
  const body = { q: sql, timeformat: 'ms' };
  if (params) body.params = params;
  let res;
  try {
    res = await call('/db/query', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }, c);
  } catch (e) {
    if (e instanceof HttpError) throw Object.assign(new Error(e.message), { status: e.status });
    throw e;
  }
  const answer = await res.json();
  if (!answer.success) throw new Error(answer.reason || 'the query failed');
  const data = answer.data || { columns: [], types: [], rows: [] };
  data.elapse = answer.elapse;
  data.reason = answer.reason;
  data.rows = data.rows || [];
  return data;
}

// A query's rows as objects keyed by column name.
export async function queryObjects(sql, params) {
  const { columns, rows } = await query(sql, params);
  return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
}
