// The console's only way to the node: the /v1 JSON API with the signed-in user's token.
// The token lives in sessionStorage (this tab only) and goes out only as
// "Authorization: Bearer"; it is never put in a URL.

const KEY = 'striae.token';

/** The token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Keeps `value` as this tab's token. */
export function setToken(value) {
  sessionStorage.setItem(KEY, value.trim());
}

/** Forgets the token. */
export function clearToken() {
  sessionStorage.removeItem(KEY);
}

/** An error the API answered (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function headers(extra) {
  const h = new Headers(extra || {});
  const t = token();
  if (t) h.set('Authorization', `Bearer ${t}`);
  return h;
}

async function failure(response) {
  let code = 'http_' + response.status;
  let message = `${response.status} ${response.statusText}`;
  let field;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      field = body.error.field;
    }
  } catch (_) {
    // Not JSON: keep the status line.
  }
  const error = new ApiError(response.status, code, message, field);
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent('striae:unauthorized', { detail: error }));
  }
  return error;
}

async function send(method, path, body, extraHeaders) {
  const init = { method, headers: headers(extraHeaders), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined && body !== null) {
    if (body instanceof Blob || typeof body === 'string') {
      init.body = body;
    } else {
      init.headers.set('Content-Type', 'application/json');
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `The node could not be reached (${e.message}).`);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** `method path` with an optional JSON body; the JSON answer (null when empty). */
export async function api(method, path, body) {
  const response = await send(method, path, body);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** GET `path` as JSON. */
export function get(path) {
  return api('GET', path);
}

/** GET `path` as a Blob (pictures, reports). */
export async function getBlob(path) {
  const response = await send('GET', path);
  return response.blob();
}

/**
 * Sends `file` as the raw body of `method path` with XMLHttpRequest, so that upload progress
 * can be shown: `onProgress(loaded, total)` while it goes out. Resolves to the JSON answer.
 */
export function upload(method, path, file, contentType, onProgress, extraHeaders) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    const t = token();
    if (t) xhr.setRequestHeader('Authorization', `Bearer ${t}`);
    // A FormData body sets its own multipart Content-Type (with the boundary).
    if (contentType) xhr.setRequestHeader('Content-Type', contentType);
    for (const [k, v] of Object.entries(extraHeaders || {})) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size || 0);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload could not reach the node.'));
    xhr.onload = () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch (_) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
        return;
      }
      const e = (body && body.error) || {};
      const error = new ApiError(xhr.status, e.code || 'http_' + xhr.status,
        e.message || `${xhr.status} ${xhr.statusText}`, e.field);
      if (xhr.status === 401) {
        window.dispatchEvent(new CustomEvent('striae:unauthorized', { detail: error }));
      }
      reject(error);
    };
    xhr.send(file);
  });
}
