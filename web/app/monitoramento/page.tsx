import Link from "next/link";
import { Painel } from "@/components/Painel";
import { catalogueCounters, ImagefillError, isImageOperator, reviewQueue } from "@/lib/imagefill";
import { createSupabaseServerClient } from "@/lib/supabase/server";

export const dynamic = "force-dynamic";

export default async function MonitoramentoPage() {
  const supabase = await createSupabaseServerClient();
  const { data } = await supabase.auth.getUser();
  if (!data.user) {
    return (
      <main className="pagina">
        <div className="recusa" role="alert">
          <h1>Entre para revisar imagens</h1>
          <p>O painel de imagens é só para usuários com sessão ativa.</p>
          <Link href="/login">Entrar</Link>
        </div>
      </main>
    );
  }
  try {
    if (!(await isImageOperator(supabase))) {
      throw new ImagefillError(403, "42501", "Acesso negado: sua conta não pode revisar imagens de produtos.");
    }
    const [counters, page] = await Promise.all([catalogueCounters(supabase), reviewQueue(supabase, 50, 0)]);
    return (
      <main className="pagina">
        <Painel initialCounters={counters} initialPage={page} userEmail={data.user.email ?? ""} />
      </main>
    );
  } catch (exc) {
    if (exc instanceof ImagefillError && exc.status === 403) {
      return (
        <main className="pagina">
          <div className="recusa" role="alert">
            <h1>Acesso negado</h1>
            <p>{exc.message}</p>
            <p>Peça a um administrador para incluir você entre os operadores de imagens.</p>
          </div>
        </main>
      );
    }
    throw exc;
  }
}
