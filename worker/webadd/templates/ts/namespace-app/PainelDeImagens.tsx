import { Suspense } from "react";
import { clienteDoServidor } from "./app-router";
import { carregarEstado } from "./estado";
import { TelaMonitoramento } from "./TelaMonitoramento";
import { Estilos } from "./Estilos";
import { RAIZ } from "./css";

async function Conteudo({ loginHref }: { loginHref: string }) {
  const estado = await carregarEstado(await clienteDoServidor());
  return <TelaMonitoramento estado={estado} loginHref={loginHref} />;
}

/** The whole /monitoramento panel for the App Router. It reads the session (request data), so it
 * renders under <Suspense>: that is what `cacheComponents` asks for, and without that flag it is
 * simply a dynamic render. Put it in any page: `<PainelDeImagens />`. */
export function PainelDeImagens({ loginHref = "/login" }: { loginHref?: string }) {
  return (
    <Suspense
      fallback={
        <div className={RAIZ}>
          <Estilos />
          <p className="pagina carregando">Carregando o painel de imagens…</p>
        </div>
      }
    >
      <Conteudo loginHref={loginHref} />
    </Suspense>
  );
}
