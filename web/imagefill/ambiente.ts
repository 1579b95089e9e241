// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
/** The two public Supabase settings, read at run time on the server: `process.env[name]` with a variable
 * name is never inlined into a bundle, so one build runs against any Supabase project. Both values are
 * public by design (the key only opens what RLS and the GRANTs allow). */

function lerVariavel(name: string): string | undefined {
  const value = process.env[name];
  return value ? value : undefined;
}

export function supabaseUrl(): string {
  const value = lerVariavel("NEXT_PUBLIC_SUPABASE_URL");
  if (!value) {
    throw new Error("NEXT_PUBLIC_SUPABASE_URL não definida: configure-a no ambiente do Next.js.");
  }
  return value;
}

/** Supabase's current name first (publishable key), the legacy anon key as the fallback. */
export function supabaseKey(): string {
  const value = lerVariavel("NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY") ?? lerVariavel("NEXT_PUBLIC_SUPABASE_ANON_KEY");
  if (!value) {
    throw new Error(
      "NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY (ou NEXT_PUBLIC_SUPABASE_ANON_KEY) não definida: configure-a no ambiente do Next.js.",
    );
  }
  return value;
}
