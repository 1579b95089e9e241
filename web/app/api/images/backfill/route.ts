import { batchProgress, enqueueBackfill, type BatchProgress } from "@/lib/imagefill";
import { BadRequest, integerParam, withSession } from "@/lib/http";

const MAX_WAIT_SECONDS = 25;

/** POST /api/images/backfill?limit=50[&wait=10] — queues a batch; with `wait`, waits up to that
 * many seconds for it and says what is still running. */
export async function POST(request: Request) {
  const params = new URL(request.url).searchParams;
  return withSession(async (supabase) => {
    const limit = integerParam(params.get("limit"), "limit", 50);
    const wait = integerParam(params.get("wait"), "wait", 0);
    if (wait < 0 || wait > MAX_WAIT_SECONDS) {
      throw new BadRequest(`wait deve estar entre 0 e ${MAX_WAIT_SECONDS} segundos (recebido: ${wait}).`);
    }
    const queued = await enqueueBackfill(supabase, limit);
    let progress: BatchProgress | null = null;
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
  });
}
