import { requestBrowserSearch } from "@/lib/imagefill";
import { jsonBody, text, withSession } from "@/lib/http";

/** POST /api/images/browser-search {product_id} — queues the manual headless-browser search. */
export async function POST(request: Request) {
  return withSession(async (supabase) => {
    const body = await jsonBody(request);
    return requestBrowserSearch(supabase, text(body, "product_id"));
  });
}
