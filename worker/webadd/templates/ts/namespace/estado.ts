/** What /monitoramento shows, decided on the server for either router: who is asking, then the data. */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { ConfigAoVivo } from "./aoVivo";
import { supabaseKey, supabaseUrl } from "./ambiente";
import {
  catalogueCounters,
  ImagefillError,
  isImageOperator,
  reviewQueue,
  type CatalogueCounters,
  type ReviewPage,
} from "./imagefill";

export type EstadoMonitoramento =
  | { estado: "sem-sessao" }
  | { estado: "negado"; mensagem: string }
  | { estado: "ok"; counters: CatalogueCounters; page: ReviewPage; userEmail: string; realtime: ConfigAoVivo };

export async function carregarEstado(supabase: SupabaseClient): Promise<EstadoMonitoramento> {
  const { data } = await supabase.auth.getUser();
  if (!data.user) return { estado: "sem-sessao" };
  try {
    if (!(await isImageOperator(supabase))) {
      return { estado: "negado", mensagem: "Acesso negado: sua conta não pode revisar imagens de produtos." };
    }
    const [counters, page] = await Promise.all([catalogueCounters(supabase), reviewQueue(supabase, 50, 0)]);
    // Realtime lives at the same project URL (`/realtime/v1`); URL and key are public.
    const realtime = { url: supabaseUrl(), key: supabaseKey() };
    return { estado: "ok", counters, page, userEmail: data.user.email ?? "", realtime };
  } catch (exc) {
    if (exc instanceof ImagefillError && exc.status === 403) return { estado: "negado", mensagem: exc.message };
    throw exc;
  }
}
