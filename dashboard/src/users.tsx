// Users: a searched, paged table; a "New user" form; per user edit, revoke/unrevoke, the TOTP QR code,
// a reset code and recovery codes (shown once: they are not kept here after the dialog closes).
import { useEffect, useState } from 'preact/hooks';
import { api, query } from './api';
import { FormError } from './form-error';

interface User {
  username: string;
  tenant_name: string;
  email: string | null;
  two_factor: boolean | null;
  revoked: boolean;
  scopes: string[] | null;
}

const PAGE = 25;
const fieldValue = (form: HTMLFormElement, name: string) =>
  (form.elements.namedItem(name) as HTMLInputElement | null)?.value.trim() ?? '';

function NewUser({ onCreated }: { onCreated: (u: User) => void }) {
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const email = fieldValue(form, 'email');
    const scopes = fieldValue(form, 'scopes');
    try {
      const user = await api<User>('users', {
        body: {
          username: fieldValue(form, 'username'),
          password: (form.elements.namedItem('password') as HTMLInputElement).value,
          tenant_name: fieldValue(form, 'tenant'),
          ...(email ? { email } : {}),
          ...(scopes ? { scopes: scopes.split(/[\s,]+/).filter(Boolean) } : {}),
          two_factor: (form.elements.namedItem('two_factor') as HTMLInputElement).checked,
        },
      });
      form.reset();
      onCreated(user);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="card grid" onSubmit={submit} aria-label="New user">
      <label>
        Username
        <input name="username" required autocomplete="off" />
      </label>
      <label>
        Password
        <input name="password" type="password" required autocomplete="new-password" />
      </label>
      <label>
        Tenant
        <input name="tenant" required autocomplete="off" />
      </label>
      <label>
        Email
        <input name="email" type="email" autocomplete="off" />
      </label>
      <label>
        Scopes
        <input name="scopes" placeholder="events:read events:write" autocomplete="off" />
      </label>
      <label class="check">
        <input name="two_factor" type="checkbox" /> Two-factor
      </label>
      <button type="submit">Create</button>
      <FormError error={error} />
    </form>
  );
}

type Shown = { title: string; text?: string[]; qr?: string } | undefined;

/** Edits one user; only the fields changed are sent (an empty password leaves it as it is). */
function EditUser({ user, onDone }: { user: User; onDone: () => void }) {
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const email = fieldValue(form, 'email');
    const scopes = fieldValue(form, 'scopes');
    const tenant = fieldValue(form, 'tenant');
    const password = (form.elements.namedItem('password') as HTMLInputElement).value;
    const twoFactor = (form.elements.namedItem('two_factor') as HTMLInputElement).checked;
    try {
      await api('users/update', {
        body: {
          username: user.username,
          email: email || null,
          scopes: scopes ? scopes.split(/[\s,]+/).filter(Boolean) : null,
          ...(tenant !== user.tenant_name ? { tenant_name: tenant } : {}),
          ...(password ? { password } : {}),
          ...(twoFactor !== Boolean(user.two_factor) ? { two_factor: twoFactor } : {}),
        },
      });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="card grid" onSubmit={submit} aria-label={`Edit ${user.username}`}>
      <h2>Edit {user.username}</h2>
      <label>
        Tenant
        <input name="tenant" required value={user.tenant_name} autocomplete="off" />
      </label>
      <label>
        Email
        <input name="email" type="email" value={user.email ?? ''} autocomplete="off" />
      </label>
      <label>
        Scopes
        <input name="scopes" value={(user.scopes ?? []).join(' ')} autocomplete="off" />
      </label>
      <label>
        New password
        <input name="password" type="password" autocomplete="new-password" placeholder="unchanged" />
      </label>
      <label class="check">
        <input name="two_factor" type="checkbox" checked={Boolean(user.two_factor)} /> Two-factor
      </label>
      <button type="submit">Save</button>
      <button type="button" class="secondary" onClick={onDone}>
        Cancel
      </button>
      <FormError error={error} />
    </form>
  );
}

interface ActionProps {
  user: User;
  onChange: () => void;
  show: (s: Shown) => void;
  edit: (u: User) => void;
}

function UserActions({ user, onChange, show, edit }: ActionProps) {
  const act = async (path: string, body: object, then?: (answer: never) => Shown) => {
    try {
      const answer = await api<never>(`users/${path}`, { body: { username: user.username, ...body } });
      if (then) show(then(answer));
      onChange();
    } catch (err) {
      show({ title: 'Failed', text: [(err as Error).message] });
    }
  };
  return (
    <div class="actions">
      <button type="button" class="secondary" onClick={() => edit(user)}>
        Edit
      </button>
      <button type="button" class="secondary" onClick={() => act('revoke', { revoked: !user.revoked })}>
        {user.revoked ? 'Unrevoke' : 'Revoke'}
      </button>
      <button
        type="button"
        class="secondary"
        onClick={() =>
          act('qr', {}, (a: { qr: string }) => ({
            title: `TOTP QR code of ${user.username}`,
            qr: a.qr.startsWith('data:') ? a.qr : `data:image/png;base64,${a.qr}`,
          }))
        }
      >
        QR
      </button>
      <button
        type="button"
        class="secondary"
        onClick={() =>
          act('reset_code', {}, (a: { totp: string }) => ({ title: `Reset code of ${user.username}`, text: [a.totp] }))
        }
      >
        Reset code
      </button>
      <button
        type="button"
        class="secondary"
        onClick={() =>
          act('recovery_codes', {}, (a: { codes: string[] }) => ({
            title: `Recovery codes of ${user.username} (shown once)`,
            text: a.codes,
          }))
        }
      >
        Recovery codes
      </button>
    </div>
  );
}

export function UsersPage() {
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [data, setData] = useState<{ total: number; users: User[] }>({ total: 0, users: [] });
  const [creating, setCreating] = useState(false);
  // One form at a time: the new-user and edit forms share field names (Tenant, Email, ...).
  const [editing, setEditing] = useState<User>();
  const [shown, setShown] = useState<Shown>(undefined);
  const [error, setError] = useState('');
  const load = () =>
    api<{ total: number; users: User[] }>(`users${query({ q, offset, limit: PAGE })}`).then(
      (d) => {
        setData(d);
        setError('');
      },
      (err) => setError((err as Error).message),
    );
  useEffect(() => void load(), [q, offset]);
  return (
    <section>
      <div class="toolbar">
        <label>
          Search
          <input
            type="search"
            value={q}
            onInput={(e) => {
              setQ(e.currentTarget.value);
              setOffset(0);
            }}
          />
        </label>
        <button
          type="button"
          onClick={() => {
            setEditing(undefined);
            setCreating(!creating);
          }}
          aria-expanded={creating}
        >
          New user
        </button>
      </div>
      {creating && (
        <NewUser
          onCreated={() => {
            setCreating(false);
            void load();
          }}
        />
      )}
      {editing && (
        <EditUser
          key={editing.username}
          user={editing}
          onDone={() => {
            setEditing(undefined);
            void load();
          }}
        />
      )}
      {error && <p class="error">{error}</p>}
      {shown && (
        <div class="card shown" role="dialog" aria-label={shown.title}>
          <h2>{shown.title}</h2>
          {shown.qr && <img src={shown.qr} alt={shown.title} width={200} height={200} />}
          {shown.text && <pre>{shown.text.join('\n')}</pre>}
          <button type="button" class="secondary" onClick={() => setShown(undefined)}>
            Close
          </button>
        </div>
      )}
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Username</th>
              <th>Tenant</th>
              <th>Email</th>
              <th>Two-factor</th>
              <th>Revoked</th>
              <th>Scopes</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.users.map((u) => (
              <tr key={u.username}>
                <td>{u.username}</td>
                <td>{u.tenant_name}</td>
                <td>{u.email ?? '—'}</td>
                <td>{u.two_factor ? 'yes' : 'no'}</td>
                <td>{u.revoked ? 'revoked' : 'no'}</td>
                <td>{(u.scopes ?? []).join(' ') || '—'}</td>
                <td>
                  <UserActions
                    user={u}
                    onChange={load}
                    show={setShown}
                    edit={(user) => {
                      setCreating(false);
                      setEditing(user);
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="pager">
        <button
          type="button"
          class="secondary"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - PAGE))}
        >
          Previous
        </button>
        <span>
          {data.total === 0 ? 'No users' : `${offset + 1}–${Math.min(offset + PAGE, data.total)} of ${data.total}`}
        </span>
        <button
          type="button"
          class="secondary"
          disabled={offset + PAGE >= data.total}
          onClick={() => setOffset(offset + PAGE)}
        >
          Next
        </button>
      </div>
    </section>
  );
}
