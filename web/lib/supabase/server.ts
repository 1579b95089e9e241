import { createServerClient } from "@supabase/ssr";
import type { SupabaseClient } from "@supabase/supabase-js";
import { cookies } from "next/headers";

/** Read at run time, on the server only: `process.env[name]` with a variable name is never
 * inlined into a bundle, so one build runs against any Supabase project. Both values are
 * public by design (the anon key only opens what RLS and the GRANTs allow). */
function publicEnv(name: "NEXT_PUBLIC_SUPABASE_URL" | "NEXT_PUBLIC_SUPABASE_ANON_KEY"): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} não definida: configure-a no ambiente do Next.js.`);
  }
  return value;
}

/** The signed-in user's Supabase client (session from the `sb-<ref>-auth-token` cookies). */
export async function createSupabaseServerClient(): Promise<SupabaseClient> {
  const cookieStore = await cookies();
  return createServerClient(publicEnv("NEXT_PUBLIC_SUPABASE_URL"), publicEnv("NEXT_PUBLIC_SUPABASE_ANON_KEY"), {
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
