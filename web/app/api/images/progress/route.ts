import { batchProgress, catalogueCounters } from "@/lib/imagefill";
import { withSession } from "@/lib/http";

/** GET /api/images/progress[?batch_id=…] — catalogue counters, and the batch's when given. */
export async function GET(request: Request) {
  const batchId = new URL(request.url).searchParams.get("batch_id");
  return withSession(async (supabase) => {
    const [catalogue, batch] = await Promise.all([
      catalogueCounters(supabase),
      batchId ? batchProgress(supabase, batchId) : Promise.resolve(null),
    ]);
    return { catalogue, batch };
  });
}
