import { LoginForm } from "./LoginForm";

/** The minimal app's sign-in (your own app already has one: the panel only needs the session). */
export default async function LoginPage({ searchParams }: { searchParams: Promise<{ email?: string }> }) {
  const { email } = await searchParams;
  return (
    <main className="pagina">
      <LoginForm email={email ?? ""} />
    </main>
  );
}
