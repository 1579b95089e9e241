import { approveImage, auditFigures, auditQueue, batchProgress, catalogueCounters, confirmAutoApproval, enqueueBackfill, ImagefillError, rejectImage, requestBrowserSearch, reviewQueue, spendSummary, undoAutoApproval, } from "./imagefill";
/** The HTTP method each route answers (the others get 405). */
export const METODOS = {
    review: "GET",
    progress: "GET",
    backfill: "POST",
    approve: "POST",
    reject: "POST",
    "browser-search": "POST",
    spend: "GET",
    audit: "GET",
    "audit-figures": "GET",
    "audit-confirm": "POST",
    "audit-undo": "POST",
};
const MAX_WAIT_SECONDS = 25;
/** Input the route itself refuses before any RPC (not JSON, wrong type). */
export class BadRequest extends Error {
}
export function erro(status, code, message, hint = null) {
    return { status, body: { error: { code, message, hint } } };
}
function objeto(body) {
    if (body && typeof body === "object" && !Array.isArray(body))
        return body;
    throw new BadRequest("Corpo da requisição inválido: envie um objeto JSON.");
}
function text(body, key) {
    const value = body[key];
    if (typeof value === "string" || typeof value === "number")
        return String(value);
    throw new BadRequest(`Campo obrigatório ausente: ${key}.`);
}
function integerParam(value, name, fallback) {
    if (value === null || value === "")
        return fallback;
    if (!/^-?\d+$/.test(value))
        throw new BadRequest(`${name} deve ser um número inteiro (recebido: ${value}).`);
    return Number(value);
}
function approvalId(body) {
    const value = body.approval_id;
    if (typeof value === "number" && Number.isSafeInteger(value))
        return value;
    if (typeof value === "string" && /^\d+$/.test(value))
        return Number(value);
    throw new BadRequest("Campo obrigatório ausente ou inválido: approval_id (um número inteiro).");
}
/** GET audit?mode=sample|all&limit=50[&before_at=…&before_id=…]: the cursor is the last row's pair. */
function auditCursor(params) {
    const at = params.get("before_at");
    if (!at)
        return null;
    return { before_at: at, before_id: integerParam(params.get("before_id"), "before_id", 0) };
}
/** POST backfill?limit=50[&wait=10]: queues a batch; with `wait`, waits up to that many seconds for it. */
async function backfill(supabase, params) {
    const limit = integerParam(params.get("limit"), "limit", 50);
    const wait = integerParam(params.get("wait"), "wait", 0);
    if (wait < 0 || wait > MAX_WAIT_SECONDS) {
        throw new BadRequest(`wait deve estar entre 0 e ${MAX_WAIT_SECONDS} segundos (recebido: ${wait}).`);
    }
    const queued = await enqueueBackfill(supabase, limit);
    let progress = null;
    if (queued.batch_id) {
        const deadline = Date.now() + wait * 1000;
        progress = await batchProgress(supabase, queued.batch_id);
        while (progress.done < progress.total && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 500));
            progress = await batchProgress(supabase, queued.batch_id);
        }
    }
    return {
        ...queued,
        processed: progress?.done ?? 0,
        ok: progress?.ok ?? 0,
        needs_review: progress?.needs_review ?? 0,
        error: progress?.error ?? 0,
        still_running: progress ? progress.total - progress.done : 0,
        progress,
    };
}
async function executar(acao, supabase, params, lerCorpo) {
    switch (acao) {
        case "review":
            // GET review?limit=20&offset=0: products in needs_review with their live candidates.
            return reviewQueue(supabase, integerParam(params.get("limit"), "limit", 20), integerParam(params.get("offset"), "offset", 0));
        case "progress": {
            // GET progress[?batch_id=…]: catalogue counters, and the batch's when given.
            const batchId = params.get("batch_id");
            const [catalogue, batch] = await Promise.all([
                catalogueCounters(supabase),
                batchId ? batchProgress(supabase, batchId) : Promise.resolve(null),
            ]);
            return { catalogue, batch };
        }
        case "backfill":
            return backfill(supabase, params);
        case "approve": {
            // A candidate of ours keeps its source; any other URL (pasted) becomes `manual`.
            const body = objeto(await lerCorpo());
            return approveImage(supabase, text(body, "product_id"), text(body, "url"));
        }
        case "reject": {
            // The product's candidates are never proposed again; with retry the automatic search runs once more.
            const body = objeto(await lerCorpo());
            return rejectImage(supabase, text(body, "product_id"), text(body, "reason"), body.retry === true);
        }
        case "browser-search": {
            const body = objeto(await lerCorpo());
            return requestBrowserSearch(supabase, text(body, "product_id"));
        }
        case "spend":
            // GET spend: this month's spend per provider against the caps.
            return spendSummary(supabase);
        case "audit": {
            // The sample still to audit (default) or every automatic approval, newest first.
            const mode = params.get("mode") ?? "sample";
            if (mode !== "sample" && mode !== "all") {
                throw new BadRequest(`mode deve ser sample (amostra) ou all (todas) (recebido: ${mode}).`);
            }
            return auditQueue(supabase, mode, integerParam(params.get("limit"), "limit", 50), auditCursor(params));
        }
        case "audit-figures":
            // The measured precision per source and band, and the suggested threshold (never applied).
            return auditFigures(supabase);
        case "audit-confirm":
            return confirmAutoApproval(supabase, approvalId(objeto(await lerCorpo())));
        case "audit-undo": {
            // The picture is rejected for the product and the product goes back through the pipeline.
            const body = objeto(await lerCorpo());
            return undoAutoApproval(supabase, approvalId(body), typeof body.reason === "string" ? body.reason : null);
        }
    }
}
/** One route call: signed in or 401, then the RPC with the caller's own session (the database decides
 * who may do what), its refusals mapped to the documented status codes. */
export async function responder(acao, supabase, params, lerCorpo) {
    const { data, error } = await supabase.auth.getUser();
    if (error || !data.user) {
        return erro(401, "unauthenticated", "Entre com a sua conta para usar o painel de imagens.");
    }
    try {
        return { status: 200, body: await executar(acao, supabase, params, lerCorpo) };
    }
    catch (exc) {
        if (exc instanceof ImagefillError)
            return erro(exc.status, exc.code, exc.message, exc.hint);
        if (exc instanceof BadRequest)
            return erro(400, "bad_request", exc.message);
        throw exc;
    }
}
export function metodoRecusado(acao) {
    return erro(405, "method_not_allowed", `Use ${METODOS[acao]} nesta rota.`);
}
