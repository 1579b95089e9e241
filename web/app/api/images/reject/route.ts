import { rejectImage } from "@/lib/imagefill";
import { jsonBody, text, withSession } from "@/lib/http";

/** POST /api/images/reject {product_id, reason, retry?} — the product's candidates are never
 * proposed again; with retry the automatic search runs once more. */
export async function POST(request: Request) {
  return withSession(async (supabase) => {
    const body = await jsonBody(request);
    return rejectImage(supabase, text(body, "product_id"), text(body, "reason"), body.retry === true);
  });
}
