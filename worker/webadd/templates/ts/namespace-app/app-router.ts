/** The App Router side: the signed-in user's Supabase client (from the request's cookies) and the
 * route handlers, each a thin translation of `responder(...)`. */
import { createServerClient } from "@supabase/ssr";
import type { SupabaseClient } from "@supabase/supabase-js";
import { cookies } from "next/headers";
import { supabaseKey, supabaseUrl } from "./ambiente";
import { METODOS, metodoRecusado, responder, type Acao, type Resposta } from "./rotas";

/** The same session cookies (`sb-<ref>-auth-token`) your own @supabase/ssr client reads and writes. */
export async function clienteDoServidor(): Promise<SupabaseClient> {
  const cookieStore = await cookies();
  return createServerClient(supabaseUrl(), supabaseKey(), {
    cookies: {
      getAll() {
        return cookieStore.getAll();
      },
      setAll(cookiesToSet) {
        try {
          for (const { name, value, options } of cookiesToSet) {
            cookieStore.set(name, value, options);
          }
        } catch {
          // Called from a Server Component, where cookies are read-only: the session refresh
          // is then written by the next route handler or server action.
        }
      },
    },
  });
}

function json(resposta: Resposta): Response {
  return Response.json(resposta.body, { status: resposta.status });
}

/** `export const POST = rota("approve")` in app/api/imagefill/approve/route.ts. */
export function rota(acao: Acao) {
  return async function handler(request: Request): Promise<Response> {
    if (request.method !== METODOS[acao]) return json(metodoRecusado(acao));
    const supabase = await clienteDoServidor();
    const params = new URL(request.url).searchParams;
    return json(await responder(acao, supabase, params, () => request.json().catch(() => null)));
  };
}
