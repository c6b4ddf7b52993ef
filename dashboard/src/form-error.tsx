// A form's error line: read out by screen readers when it appears (role="alert"), nothing when there is none.
export function FormError({ error }: { error: string }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}
