"""Fresh Next.js apps as a new user has them: made by create-next-app (the npm package, its own
templates, `--skip-install`), then given the files Supabase's Next.js guide has you write for
@supabase/ssr (server/browser clients and a sign-in). Nothing is downloaded but npm packages.

One shared node_modules (tests/webadd/fixture-deps, installed once per lockfile hash under
.local/webadd-deps/<hash>/) serves every app: the apps are made under it, so Node and Turbopack find the
modules by walking up, with no symlink. Run `make setup` (or the first test) to install it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPS = Path(__file__).resolve().parent / "fixture-deps"


def deps_dir() -> Path:
    lock = (DEPS / "package-lock.json").read_bytes()
    return ROOT / ".local" / "webadd-deps" / hashlib.sha256(lock).hexdigest()[:16]


def node_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    return env | {"NEXT_TELEMETRY_DISABLED": "1", "CI": "1"}


def shared_install() -> Path:
    """`npm ci` of the fixture apps' packages, once per lockfile (from the npm registry or its cache)."""
    target = deps_dir()
    stamp = target / "node_modules" / ".installed"
    if stamp.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(DEPS / name, target / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target,
        env=node_env(),
        check=True,
        timeout=600,
    )
    stamp.touch()
    return target


@dataclass(frozen=True)
class FixtureApp:
    name: str
    flags: tuple[str, ...]
    typescript: bool
    router: str  # app | pages
    src: bool


APP_TS = FixtureApp("app-ts", (), True, "app", False)
PAGES_TS = FixtureApp("pages-ts", ("--no-app",), True, "pages", False)
SRC_TS = FixtureApp("src-ts", ("--src-dir",), True, "app", True)
APP_JS = FixtureApp("app-js", ("--js",), False, "app", False)
ALL_APPS = (APP_TS, PAGES_TS, SRC_TS, APP_JS)

# Where a fresh create-next-app puts next/font/google (it fetches the font at build time: no network here).
FONT_FILES = ("app/layout.tsx", "app/layout.js", "src/app/layout.tsx", "pages/index.tsx", "pages/index.js")
FONT_IMPORT = 'import { Geist, Geist_Mono } from "next/font/google";'


def _no_google_fonts(root: Path, typescript: bool) -> None:
    """The one change to create-next-app's output: Geist stubs instead of next/font/google."""
    stub = (
        'const Geist = (_options: object) => ({ variable: "" });\nconst Geist_Mono = Geist;'
        if typescript
        else 'const Geist = (_options) => ({ variable: "" });\nconst Geist_Mono = Geist;'
    )
    for rel in FONT_FILES:
        path = root / rel
        if path.is_file() and FONT_IMPORT in path.read_text():
            path.write_text(path.read_text().replace(FONT_IMPORT, stub))


def create_app(app: FixtureApp) -> Path:
    """The app's sources, made afresh; its build folder (.next) is kept between runs."""
    deps = shared_install()
    apps = deps / "apps"
    apps.mkdir(exist_ok=True)
    root = apps / app.name
    scratch = apps / f"new-{app.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run(
        [
            "node",
            str(deps / "node_modules" / "create-next-app" / "dist" / "index.js"),
            scratch.name,
            "--yes",
            "--skip-install",
            "--disable-git",
            "--use-npm",
            "--no-agent-feedback",
            *app.flags,
        ],
        cwd=apps,
        env=node_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    root.mkdir(exist_ok=True)
    for child in root.iterdir():
        if child.name != ".next":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for child in scratch.iterdir():
        shutil.move(str(child), root / child.name)
    scratch.rmdir()
    # next/font/google and the package name create-next-app gave the scratch folder.
    _no_google_fonts(root, app.typescript)
    package = root / "package.json"
    package.write_text(package.read_text().replace(f'"name": "{scratch.name}"', f'"name": "{app.name}"'))
    add_supabase_guide_files(root, app)
    return root


def _add_dependency(root: Path, name: str, version: str) -> None:
    """What `npm install @supabase/ssr @supabase/supabase-js` writes into package.json."""
    package = root / "package.json"
    text = package.read_text()
    text = re.sub(r'("dependencies": \{\n)', rf'\1    "{name}": "{version}",\n', text, count=1)
    package.write_text(text)


def _strip_types(text: str) -> str:
    return (
        text.replace("(formData: FormData)", "(formData)")
        .replace(" as string", "")
        .replace("(req: NextApiRequest, res: NextApiResponse)", "(req, res)")
        .replace("_URL!", "_URL")
        .replace("_KEY!", "_KEY")
    )


def add_supabase_guide_files(root: Path, app: FixtureApp) -> None:
    """Supabase's "Setting up Server-Side Auth for Next.js" files, as the guide writes them (login
    redirects to /monitoramento instead of /, and the Pages Router signs in through an API route)."""
    _add_dependency(root, "@supabase/supabase-js", "^2.119.2")
    _add_dependency(root, "@supabase/ssr", "^0.12.7")
    base = "src/" if app.src else ""
    ext = "ts" if app.typescript else "js"
    files: dict[str, str]
    if app.router == "app":
        files = {
            f"{base}lib/supabase/server.{ext}": GUIDE_SERVER,
            f"{base}lib/supabase/client.{ext}": GUIDE_CLIENT,
            f"{base}app/login/actions.{ext}": GUIDE_LOGIN_ACTIONS,
            f"{base}app/login/page.{ext}x": GUIDE_LOGIN_PAGE,
        }
    else:
        files = {
            f"{base}utils/supabase/server-props.{ext}": GUIDE_SERVER_PROPS,
            f"{base}utils/supabase/api.{ext}": GUIDE_API,
            f"{base}pages/api/login.{ext}": GUIDE_PAGES_LOGIN_API,
            f"{base}pages/login.{ext}x": GUIDE_PAGES_LOGIN_PAGE,
        }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if app.typescript else _strip_types(text))


GUIDE_SERVER = """import { createServerClient } from "@supabase/ssr";
import { cookies } from "next/headers";

export async function createClient() {
  const cookieStore = await cookies();

  return createServerClient(
    process.env.NEXT_PUBLIC_SUPABASE_URL!,
    process.env.NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY!,
    {
      cookies: {
        getAll() {
          return cookieStore.getAll();
        },
        setAll(cookiesToSet) {
          try {
            cookiesToSet.forEach(({ name, value, options }) =>
              cookieStore.set(name, value, options)
            );
          } catch {
            // The `setAll` method was called from a Server Component.
            // This can be ignored if you have middleware refreshing
            // user sessions.
          }
        },
      },
    }
  );
}
"""

GUIDE_CLIENT = """import { createBrowserClient } from "@supabase/ssr";

export function createClient() {
  return createBrowserClient(
    process.env.NEXT_PUBLIC_SUPABASE_URL!,
    process.env.NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY!
  );
}
"""

GUIDE_LOGIN_ACTIONS = """"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";

import { createClient } from "@/lib/supabase/server";

export async function login(formData: FormData) {
  const supabase = await createClient();

  const data = {
    email: formData.get("email") as string,
    password: formData.get("password") as string,
  };

  const { error } = await supabase.auth.signInWithPassword(data);

  if (error) {
    redirect("/error");
  }

  revalidatePath("/", "layout");
  redirect("/monitoramento");
}
"""

GUIDE_LOGIN_PAGE = """import { login } from "./actions";

export default function LoginPage() {
  return (
    <form>
      <label htmlFor="email">Email:</label>
      <input id="email" name="email" type="email" required />
      <label htmlFor="password">Password:</label>
      <input id="password" name="password" type="password" required />
      <button formAction={login}>Log in</button>
    </form>
  );
}
"""

GUIDE_SERVER_PROPS = """import { type GetServerSidePropsContext } from "next";
import { createServerClient, serializeCookieHeader } from "@supabase/ssr";

export function createClient({ req, res }: GetServerSidePropsContext) {
  const supabase = createServerClient(
    process.env.NEXT_PUBLIC_SUPABASE_URL!,
    process.env.NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY!,
    {
      cookies: {
        getAll() {
          return Object.keys(req.cookies).map((name) => ({ name, value: req.cookies[name] || "" }));
        },
        setAll(cookiesToSet) {
          res.setHeader(
            "Set-Cookie",
            cookiesToSet.map(({ name, value, options }) => serializeCookieHeader(name, value, options))
          );
        },
      },
    }
  );

  return supabase;
}
"""

GUIDE_API = """import { createServerClient, serializeCookieHeader } from "@supabase/ssr";
import { type NextApiRequest, type NextApiResponse } from "next";

export default function createClient(req: NextApiRequest, res: NextApiResponse) {
  const supabase = createServerClient(
    process.env.NEXT_PUBLIC_SUPABASE_URL!,
    process.env.NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY!,
    {
      cookies: {
        getAll() {
          return Object.keys(req.cookies).map((name) => ({ name, value: req.cookies[name] || "" }));
        },
        setAll(cookiesToSet) {
          res.setHeader(
            "Set-Cookie",
            cookiesToSet.map(({ name, value, options }) => serializeCookieHeader(name, value, options))
          );
        },
      },
    }
  );

  return supabase;
}
"""

GUIDE_PAGES_LOGIN_API = """import type { NextApiRequest, NextApiResponse } from "next";

import createClient from "@/utils/supabase/api";

export default async function handler(req: NextApiRequest, res: NextApiResponse) {
  const supabase = createClient(req, res);
  const { error } = await supabase.auth.signInWithPassword({
    email: String(req.body.email ?? ""),
    password: String(req.body.password ?? ""),
  });
  res.redirect(303, error ? "/login?erro=1" : "/monitoramento");
}
"""

GUIDE_PAGES_LOGIN_PAGE = """export default function LoginPage() {
  return (
    <main>
      <form method="post" action="/api/login">
        <label htmlFor="email">Email:</label>
        <input id="email" name="email" type="email" required />
        <label htmlFor="password">Password:</label>
        <input id="password" name="password" type="password" required />
        <button type="submit">Log in</button>
      </form>
    </main>
  );
}
"""
