// The small page that asks a two-factor user for a code after the provider signed them in. No script,
// no style: it works under the API's CSP (default-src 'none'), and holds nothing but the pending key.

const html = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function secondFactorPage(pending: string, wrongCode: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Two-factor code</title></head>
<body>
<h1>Two-factor code</h1>
${wrongCode ? '<p role="alert">That code did not work. Try again.</p>' : ''}
<form method="post" action="/auth/oidc/totp">
<input type="hidden" name="pending" value="${html(pending)}">
<label>Code from your authenticator app (or a recovery code)
<input name="totp" autocomplete="one-time-code" inputmode="numeric" required autofocus></label>
<button type="submit">Continue</button>
</form>
</body></html>
`;
}
