import { supabaseKey, supabaseUrl } from "./ambiente";
import { catalogueCounters, ImagefillError, isImageOperator, reviewQueue, } from "./imagefill";
export async function carregarEstado(supabase) {
    const { data } = await supabase.auth.getUser();
    if (!data.user)
        return { estado: "sem-sessao" };
    try {
        if (!(await isImageOperator(supabase))) {
            return { estado: "negado", mensagem: "Acesso negado: sua conta não pode revisar imagens de produtos." };
        }
        const [counters, page] = await Promise.all([catalogueCounters(supabase), reviewQueue(supabase, 50, 0)]);
        // Realtime lives at the same project URL (`/realtime/v1`); URL and key are public.
        const realtime = { url: supabaseUrl(), key: supabaseKey() };
        return { estado: "ok", counters, page, userEmail: data.user.email ?? "", realtime };
    }
    catch (exc) {
        if (exc instanceof ImagefillError && exc.status === 403)
            return { estado: "negado", mensagem: exc.message };
        throw exc;
    }
}
