/** An RPC refused the call; `status` is what our routes answer, `message` is for a person. */
export class ImagefillError extends Error {
    status;
    code;
    hint;
    constructor(status, code, message, hint = null) {
        super(message);
        this.status = status;
        this.code = code;
        this.hint = hint;
    }
}
/** SQLSTATE → the status our routes answer. The RPCs raise 42501 for a non-operator, 22023 (or a
 * cast error, 22P02) for bad input and P0002 for an unknown product, batch or approval. */
export function statusFor(code) {
    if (!code)
        return 500;
    if (code === "42501")
        return 403;
    if (code === "PGRST301" || code === "PGRST302" || code === "PGRST303")
        return 401;
    if (code === "P0002")
        return 404;
    // The audit's refusals: undo of a person's approval (IF020), confirm after an undo (IF021).
    if (code === "IF020" || code === "IF021")
        return 409;
    if (code === "22023" || code === "P0001" || code.startsWith("22"))
        return 400;
    if (code === "PGRST202")
        return 500;
    return 500;
}
function fail(error) {
    const status = statusFor(error.code);
    const message = status === 500
        ? `Erro inesperado no banco de dados (${error.code ?? "sem código"}): ${error.message ?? ""}. Tente de novo; se persistir, avise o administrador.`
        : (error.message ?? "Erro desconhecido.");
    throw new ImagefillError(status, error.code ?? "unknown", message, error.hint ?? null);
}
async function rpc(supabase, fn, args) {
    const { data, error } = await supabase.rpc(fn, args);
    if (error)
        fail(error);
    return data;
}
export function isImageOperator(supabase) {
    return rpc(supabase, "is_image_operator", {});
}
export function enqueueBackfill(supabase, limit) {
    return rpc(supabase, "enqueue_image_backfill", { p_limit: limit });
}
export function catalogueCounters(supabase) {
    return rpc(supabase, "image_backfill_progress", {});
}
export function batchProgress(supabase, batchId) {
    return rpc(supabase, "image_backfill_progress", { p_batch_id: batchId });
}
export async function reviewQueue(supabase, limit = 20, offset = 0) {
    const rows = await rpc(supabase, "image_review_queue", {
        p_limit: limit,
        p_offset: offset,
    });
    return {
        items: rows.map(({ total_count: _total, ...item }) => ({ ...item, product_id: String(item.product_id) })),
        total: rows.length > 0 ? Number(rows[0].total_count) : 0,
    };
}
export function approveImage(supabase, productId, url) {
    return rpc(supabase, "approve_product_image", { p_product_id: productId, p_url: url });
}
export function rejectImage(supabase, productId, reason, retry) {
    return rpc(supabase, "reject_product_image", { p_product_id: productId, p_reason: reason, p_retry: retry });
}
export function spendSummary(supabase) {
    return rpc(supabase, "image_spend_summary", {});
}
export function requestBrowserSearch(supabase, productId) {
    return rpc(supabase, "request_browser_search", { p_product_id: productId });
}
export async function auditQueue(supabase, mode, limit = 50, before = null) {
    const rows = await rpc(supabase, "image_audit_queue", {
        p_mode: mode,
        p_limit: limit,
        ...(before ? { p_before_at: before.before_at, p_before_id: before.before_id } : {}),
    });
    const items = rows.map((row) => ({ ...row, product_id: String(row.product_id) }));
    const last = items[items.length - 1];
    return { items, next: items.length === limit && last ? { before_at: last.approved_at, before_id: last.approval_id } : null };
}
export function confirmAutoApproval(supabase, approvalId) {
    return rpc(supabase, "confirm_auto_approval", { p_approval_id: approvalId });
}
export function undoAutoApproval(supabase, approvalId, reason = null) {
    return rpc(supabase, "undo_auto_approval", { p_approval_id: approvalId, ...(reason ? { p_reason: reason } : {}) });
}
export async function auditFigures(supabase) {
    const [precision, threshold] = await Promise.all([
        rpc(supabase, "image_audit_precision", {}),
        rpc(supabase, "image_audit_threshold", {}),
    ]);
    return { precision, threshold };
}
