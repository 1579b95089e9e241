"use client";

import { useActionState, useState } from "react";
import { signIn } from "./actions";

export function LoginForm({ email }: { email: string }) {
  const [error, action, pending] = useActionState(signIn, null);
  // Controlled: React resets a form after its action runs, and a failed sign-in must keep the e-mail.
  const [value, setValue] = useState(email);
  return (
    <form action={action} className="login">
      <h1>Entrar</h1>
      <label>
        E-mail
        <input name="email" type="email" value={value}
          onChange={(event) => setValue(event.target.value)} required autoComplete="username" />
      </label>
      <label>
        Senha
        <input name="password" type="password" required autoComplete="current-password" />
      </label>
      {error && <p className="erro" role="alert">{error}</p>}
      <button type="submit" disabled={pending}>
        {pending ? "Entrando…" : "Entrar"}
      </button>
    </form>
  );
}
