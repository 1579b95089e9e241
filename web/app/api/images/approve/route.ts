import { approveImage } from "@/lib/imagefill";
import { jsonBody, text, withSession } from "@/lib/http";

/** POST /api/images/approve {product_id, url} — a candidate of ours keeps its source; any other
 * URL (pasted) becomes `manual`. The worker downloads and stores it. */
export async function POST(request: Request) {
  return withSession(async (supabase) => {
    const body = await jsonBody(request);
    return approveImage(supabase, text(body, "product_id"), text(body, "url"));
  });
}
