/** The Pages Router side: the signed-in user's Supabase client from `req`/`res` (as Supabase's guide
 * does it for the Pages Router), the API route handlers and /monitoramento's getServerSideProps. */
import { createServerClient, serializeCookieHeader } from "@supabase/ssr";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { GetServerSidePropsContext, GetServerSidePropsResult, NextApiRequest, NextApiResponse } from "next";
import type { IncomingMessage, ServerResponse } from "node:http";
import { supabaseKey, supabaseUrl } from "./ambiente";
import { carregarEstado, type EstadoMonitoramento } from "./estado";
import { METODOS, metodoRecusado, responder, type Acao } from "./rotas";

type ComCookies = IncomingMessage & { cookies: Partial<Record<string, string>> };

/** The same session cookies (`sb-<ref>-auth-token`) your own @supabase/ssr client reads and writes. */
export function clienteDaRequisicao(req: ComCookies, res: ServerResponse): SupabaseClient {
  return createServerClient(supabaseUrl(), supabaseKey(), {
    cookies: {
      getAll() {
        return Object.keys(req.cookies).map((name) => ({ name, value: req.cookies[name] ?? "" }));
      },
      setAll(cookiesToSet) {
        res.setHeader(
          "Set-Cookie",
          cookiesToSet.map(({ name, value, options }) => serializeCookieHeader(name, value, options)),
        );
      },
    },
  });
}

/** `export default rota("approve")` in pages/api/imagefill/approve.ts. */
export function rota(acao: Acao) {
  return async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
    if (req.method !== METODOS[acao]) {
      const recusa = metodoRecusado(acao);
      res.setHeader("Allow", METODOS[acao]);
      res.status(recusa.status).json(recusa.body);
      return;
    }
    const supabase = clienteDaRequisicao(req, res);
    const params = new URL(req.url ?? "/", "http://localhost").searchParams;
    const resposta = await responder(acao, supabase, params, async () => req.body);
    res.status(resposta.status).json(resposta.body);
  };
}

export interface PropsMonitoramento {
  estado: EstadoMonitoramento;
}

/** `export const getServerSideProps = carregarMonitoramento` in pages/monitoramento. */
export async function carregarMonitoramento(
  context: GetServerSidePropsContext,
): Promise<GetServerSidePropsResult<PropsMonitoramento>> {
  const supabase = clienteDaRequisicao(context.req, context.res);
  return { props: { estado: await carregarEstado(supabase) } };
}
