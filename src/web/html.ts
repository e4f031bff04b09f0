/**
 * Server-rendered HTML with escaping by default: the `html` tag escapes every interpolated value unless it is
 * already `Html` (the result of another `html` call or `raw`). Arrays are joined, each element treated the same.
 * The pages load one stylesheet (/admin/style.css): the Content-Security-Policy allows no inline style or script.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c]!);
}

type Value = Html | string | number | boolean | null | undefined | Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Trusted markup (constants only). */
export const raw = (s: string) => new Html(s);

export interface PageOptions {
  title: string;
  /** Navigation: [href, label]; the current page is marked. */
  nav?: Array<[string, string]>;
  current?: string;
  user?: string;
  logoutAction?: string;
  csrf?: string;
  flash?: { kind: 'ok' | 'error'; text: string; secret?: string } | null;
}

export function page(o: PageOptions, body: Html): string {
  return (
    '<!doctype html>' +
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} — Mailwright</title><link rel="stylesheet" href="/admin/style.css"></head>
<body><header><strong class="brand">Mailwright</strong>
${o.nav ? html`<nav>${o.nav.map(([href, label]) => html`<a href="${href}"${o.current === href ? raw(' aria-current="page"') : ''}>${label}</a>`)}</nav>` : ''}
${o.user ? html`<form class="logout" method="post" action="${o.logoutAction ?? '/admin/logout'}"><span>${o.user}</span><input type="hidden" name="_csrf" value="${o.csrf ?? ''}"><button>Log out</button></form>` : ''}
</header><main><h1>${o.title}</h1>
${o.flash ? html`<div class="flash ${o.flash.kind}" role="status">${o.flash.text}${o.flash.secret ? html`<pre class="secret">${o.flash.secret}</pre><small>Shown once: copy it now.</small>` : ''}</div>` : ''}
${body}</main></body></html>`.value
  );
}

/** A POST form with the CSRF token; `fields` is trusted markup built with `html`. */
export function form(action: string, csrf: string, fields: Html, button: string, cls = ''): Html {
  return html`<form method="post" action="${action}" class="${cls}"><input type="hidden" name="_csrf" value="${csrf}">${fields}<button>${button}</button></form>`;
}

export const CSS = `
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d2430;background:#f5f6f8}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:#1d2b45;color:#fff;flex-wrap:wrap}
header a{color:#cfe0ff;text-decoration:none;margin-right:1rem}header a[aria-current]{color:#fff;font-weight:600;border-bottom:2px solid #fff}
.brand{font-size:1.1rem}.logout{margin-left:auto;display:flex;gap:.5rem;align-items:center}
main{max-width:72rem;margin:1rem auto;padding:0 1rem}h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0}th,td{border:1px solid #d8dce3;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}form{display:inline-flex;gap:.4rem;align-items:center;flex-wrap:wrap;margin:.2rem 0}
form.block{display:flex;background:#fff;padding:.7rem;border:1px solid #d8dce3}
input,select{padding:.3rem .4rem;border:1px solid #b5bcc7;border-radius:3px}button{padding:.3rem .7rem;border:1px solid #2d5bb9;background:#2d62c8;color:#fff;border-radius:3px;cursor:pointer}
form.danger button{background:#b52a2a;border-color:#8f1f1f}pre{background:#0f1724;color:#e4ecf7;padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-all;user-select:all}
.flash{padding:.6rem .8rem;margin:.6rem 0;border-radius:3px}.flash.ok{background:#e1f5e4;border:1px solid #7cc38a}.flash.error{background:#fbe3e3;border:1px solid #d77}
.pass{color:#1c7a33;font-weight:600}.warn{color:#a86500;font-weight:600}.fail{color:#b52a2a;font-weight:600}
.login{max-width:22rem;margin:3rem auto;background:#fff;padding:1.2rem;border:1px solid #d8dce3}.login form{display:flex;flex-direction:column;align-items:stretch}
small{color:#566}
#job-steps li.pass::marker{color:#1c7a33}#job-steps li.fail{color:#b52a2a}#job-steps li.warn{color:#a86500}
.score{font-size:1.6rem;font-weight:700}
`;

/**
 * The progress page's script (/admin/jobs.js; the CSP allows scripts from 'self' only): polls the job every half
 * second and shows each new step, then the outcome. Text is set with textContent (never parsed as HTML).
 */
export const JOBS_JS = `(function () {
  var el = document.getElementById('job');
  if (!el) return;
  var id = el.getAttribute('data-id');
  var steps = document.getElementById('job-steps');
  var state = document.getElementById('job-state');
  var result = document.getElementById('job-result');
  function render(j) {
    while (steps.children.length < j.steps.length) {
      var s = j.steps[steps.children.length];
      var li = document.createElement('li');
      li.className = s.status;
      li.textContent = s.text;
      steps.appendChild(li);
    }
    el.setAttribute('data-state', j.state);
    state.textContent = j.state === 'running' ? 'running\u2026' : j.state;
    state.className = j.state === 'failed' ? 'fail' : j.state === 'done' ? 'pass' : 'warn';
    if (j.secret) {
      var box = document.getElementById('job-secret');
      box.querySelector('pre').textContent = j.secret;
      box.hidden = false;
    }
    if (j.message) {
      result.textContent = j.message;
      result.className = 'flash ' + (j.state === 'failed' ? 'error' : 'ok');
      result.hidden = false;
    }
  }
  function poll() {
    fetch('/admin/api/jobs/show?id=' + encodeURIComponent(id), { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (!r.ok) {
          state.textContent = r.body.error || 'the progress could not be read: reload the page';
          state.className = 'fail';
          return;
        }
        render(r.body);
        if (r.body.state === 'running') setTimeout(poll, 500);
      })
      .catch(function () {
        state.textContent = 'the server did not answer: reload the page to see the progress';
        state.className = 'fail';
      });
  }
  if (el.getAttribute('data-state') === 'running') poll();
})();
`;
