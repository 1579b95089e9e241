import Link from "next/link";
import { Painel } from "./Painel";
import { Estilos } from "./Estilos";
import { RAIZ } from "./css";
/** The panel or the refusal, inside the one root class every panel style hangs from (no global CSS). */
export function TelaMonitoramento({ estado, loginHref = "/login" }) {
    return (<div className={RAIZ}>
      <Estilos />
      <main className="pagina">
        {estado.estado === "ok" ? (<Painel initialCounters={estado.counters} initialPage={estado.page} userEmail={estado.userEmail} realtime={estado.realtime}/>) : estado.estado === "sem-sessao" ? (<div className="recusa" role="alert">
            <h1>Entre para revisar imagens</h1>
            <p>O painel de imagens é só para usuários com sessão ativa.</p>
            <Link href={loginHref}>Entrar</Link>
          </div>) : (<div className="recusa" role="alert">
            <h1>Acesso negado</h1>
            <p>{estado.mensagem}</p>
            <p>Peça a um administrador para incluir você entre os operadores de imagens.</p>
          </div>)}
      </main>
    </div>);
}
