import { reviewQueue } from "@/lib/imagefill";
import { integerParam, withSession } from "@/lib/http";

/** GET /api/images/review?limit=20&offset=0 — products in needs_review with their live candidates. */
export async function GET(request: Request) {
  const params = new URL(request.url).searchParams;
  return withSession(async (supabase) =>
    reviewQueue(
      supabase,
      integerParam(params.get("limit"), "limit", 20),
      integerParam(params.get("offset"), "offset", 0),
    ),
  );
}
