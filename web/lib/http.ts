/** What every route handler does around its one RPC call: the session, then the error mapping. */
import type { SupabaseClient } from "@supabase/supabase-js";
import { NextResponse } from "next/server";
import { ImagefillError } from "./imagefill";
import { createSupabaseServerClient } from "./supabase/server";

export function errorResponse(status: number, code: string, message: string, hint: string | null = null) {
  return NextResponse.json({ error: { code, message, hint } }, { status });
}

export async function withSession(
  handle: (supabase: SupabaseClient) => Promise<unknown>,
): Promise<NextResponse> {
  const supabase = await createSupabaseServerClient();
  const { data, error } = await supabase.auth.getUser();
  if (error || !data.user) {
    return errorResponse(401, "unauthenticated", "Entre com a sua conta para usar o painel de imagens.");
  }
  try {
    return NextResponse.json(await handle(supabase));
  } catch (exc) {
    if (exc instanceof ImagefillError) {
      return errorResponse(exc.status, exc.code, exc.message, exc.hint);
    }
    if (exc instanceof BadRequest) {
      return errorResponse(400, "bad_request", exc.message);
    }
    throw exc;
  }
}

/** Input the route itself refuses before any RPC (not JSON, wrong type). */
export class BadRequest extends Error {}

export async function jsonBody(request: Request): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await request.json();
    if (body && typeof body === "object" && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BadRequest("Corpo da requisição inválido: envie um objeto JSON.");
}

export function text(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value === "string" || typeof value === "number") return String(value);
  throw new BadRequest(`Campo obrigatório ausente: ${key}.`);
}

export function integerParam(value: string | null, name: string, fallback: number): number {
  if (value === null || value === "") return fallback;
  if (!/^-?\d+$/.test(value)) throw new BadRequest(`${name} deve ser um número inteiro (recebido: ${value}).`);
  return Number(value);
}
