// client.loginWithRedirect and client.handleRedirect, with a window of the test's own.
import { describe, expect, it } from 'vitest';
import { BrokerClient, readRedirect, type RedirectWindow } from '../../client/index.js';

function fakeWindow(href: string) {
  const assigned: string[] = [];
  const replaced: string[] = [];
  const win: RedirectWindow = {
    location: { href, assign: (url) => assigned.push(url) },
    history: { replaceState: (_d, _u, url) => replaced.push(url ?? '') },
  };
  return { win, assigned, replaced };
}

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';

describe('client redirect login', () => {
  it('loginWithRedirect sends the page to /auth/oidc/login with return_to (default: this page)', () => {
    const client = new BrokerClient({ url: 'https://broker.example/' });
    const { win, assigned } = fakeWindow('https://app.example/page?x=1#old');
    client.loginWithRedirect(undefined, win);
    client.loginWithRedirect('https://app.example/back', win);
    expect(assigned).toEqual([
      `https://broker.example/auth/oidc/login?return_to=${encodeURIComponent('https://app.example/page?x=1')}`,
      `https://broker.example/auth/oidc/login?return_to=${encodeURIComponent('https://app.example/back')}`,
    ]);
  });

  it('handleRedirect keeps #jwt as the token and clears the fragment', () => {
    const client = new BrokerClient({ url: 'https://broker.example' });
    const { win, replaced } = fakeWindow(`https://app.example/page?x=1#jwt=${JWT}`);
    expect(client.handleRedirect(win)).toEqual({ jwt: JWT });
    expect(client.token).toBe(JWT);
    expect(replaced).toEqual(['https://app.example/page?x=1']);
  });

  it('handleRedirect reports #error and keeps no token; other fragments are left alone', () => {
    const client = new BrokerClient({ url: 'https://broker.example' });
    const failed = fakeWindow('https://app.example/#error=access_denied');
    expect(client.handleRedirect(failed.win)).toEqual({ error: 'access_denied' });
    expect(client.token).toBeUndefined();
    expect(failed.replaced).toEqual(['https://app.example/']);
    const other = fakeWindow('https://app.example/#section-2');
    expect(client.handleRedirect(other.win)).toBeUndefined();
    expect(other.replaced).toEqual([]);
    expect(readRedirect('https://app.example/')).toBeUndefined();
  });

  it('without a window it says so', () => {
    expect(() => new BrokerClient({ url: 'https://b' }).handleRedirect()).toThrow(/no window/);
  });
});
