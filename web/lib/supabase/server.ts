import { createServerClient } from "@supabase/ssr";
import type { SupabaseClient } from "@supabase/supabase-js";
import { cookies } from "next/headers";

/** Read at run time, on the server only: `process.env[name]` with a variable name is never
 * inlined into a bundle, so one build runs against any Supabase project. Both values are
 * public by design (the key only opens what RLS and the GRANTs allow). */
function publicEnv(...names: string[]): string {
  for (const name of names) {
    const value = process.env[name];
    if (value) return value;
  }
  throw new Error(`${names.join(" (ou ")}${names.length > 1 ? ")" : ""} não definida: configure-a no ambiente do Next.js.`);
}

/** The minimal app's own Supabase client (its sign-in). The panel (imagefill/) brings its own. The
 * publishable key is Supabase's current name; the legacy anon key is the fallback. */
export async function createSupabaseServerClient(): Promise<SupabaseClient> {
  const cookieStore = await cookies();
  const url = publicEnv("NEXT_PUBLIC_SUPABASE_URL");
  const key = publicEnv("NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY");
  return createServerClient(url, key, {
    cookies: {
      getAll() {
        return cookieStore.getAll();
      },
      setAll(cookiesToSet) {
        try {
          for (const { name, value, options } of cookiesToSet) {
            cookieStore.set(name, value, options);
          }
        } catch {
          // Called from a Server Component, where cookies are read-only: the session refresh
          // is then written by the next route handler or server action.
        }
      },
    },
  });
}
