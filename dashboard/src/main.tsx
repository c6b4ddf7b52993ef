// The dashboard's shell: sign-in with the admin token (exchanged for an HttpOnly session cookie), the
// navigation and the page the hash names (#/users, #/events, ...).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, onSignedOut } from './api';
import { EventsPage } from './events';
import { FormError } from './form-error';
import { AppsPage, ServerPage, StreamsPage, TopicsPage } from './ops';
import { UsersPage } from './users';

const PAGES = {
  users: { name: 'Users', view: UsersPage },
  events: { name: 'Events', view: EventsPage },
  streams: { name: 'Streams', view: StreamsPage },
  apps: { name: 'Apps', view: AppsPage },
  topics: { name: 'Topics', view: TopicsPage },
  server: { name: 'Server', view: ServerPage },
} as const;
type PageKey = keyof typeof PAGES;

const pageOf = (hash: string): PageKey => {
  const key = hash.replace(/^#\/?/, '').split('?')[0];
  return key in PAGES ? (key as PageKey) : 'users';
};

function SignIn({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem('token') as HTMLInputElement;
    setBusy(true);
    setError('');
    try {
      await api('session', { body: { token: input.value } });
      input.value = '';
      onDone();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong admin token.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Broker</h1>
      <form onSubmit={submit}>
        <label>
          Admin token
          <input name="token" type="password" autocomplete="off" required />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <FormError error={error} />
      </form>
    </main>
  );
}

function App() {
  const [state, setState] = useState<'checking' | 'out' | 'in'>('checking');
  const [page, setPage] = useState<PageKey>(pageOf(location.hash));
  useEffect(() => {
    onSignedOut.handler = () => setState('out');
    api<{ signed_in: boolean }>('session').then(
      (s) => setState(s.signed_in ? 'in' : 'out'),
      () => setState('out'),
    );
    const onHash = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (state === 'checking') return <p class="loading">Loading…</p>;
  if (state === 'out') return <SignIn onDone={() => setState('in')} />;
  const signOut = async () => {
    await api('session', { method: 'DELETE' }).catch(() => {});
    setState('out');
  };
  const View = PAGES[page].view;
  return (
    <div class="shell">
      <header>
        <strong class="brand">Broker</strong>
        <nav aria-label="Pages">
          {(Object.keys(PAGES) as PageKey[]).map((key) => (
            <a key={key} href={`#/${key}`} aria-current={key === page ? 'page' : undefined}>
              {PAGES[key].name}
            </a>
          ))}
        </nav>
        <button type="button" class="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <h1>{PAGES[page].name}</h1>
        <View />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
