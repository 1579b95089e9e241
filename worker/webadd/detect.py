"""What `imagefill web add` needs to know about a Next.js app, read from its files (nothing is run)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

NEXT_CONFIGS = ("next.config.ts", "next.config.mjs", "next.config.js", "next.config.cjs", "next.config.mts")
PAGE_EXTENSIONS = (".tsx", ".ts", ".jsx", ".js", ".mdx")
# Where Supabase's Next.js guides put the app's server client (App Router, then Pages Router).
SUPABASE_SERVER_CLIENTS = (
    "lib/supabase/server",
    "utils/supabase/server",
    "utils/supabase/server-props",
    "lib/supabase/server-props",
    "utils/supabase/api",
)
LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
    ("package-lock.json", "npm"),
)


class AppError(ValueError):
    """The folder is not a Next.js app we can install into; the message says why, in Portuguese."""


@dataclass(frozen=True)
class AppFacts:
    root: Path
    package: dict[str, object]
    app_router: bool
    pages_router: bool
    src: bool
    typescript: bool
    alias: tuple[str, str] | None  # ("@/", "./src/") from paths {"@/*": ["./src/*"]}
    next_version: str | None
    next_major: int | None
    cache_components: bool
    supabase_ssr: str | None  # the version range in package.json
    supabase_js: str | None
    server_client: str | None  # the app's own @supabase/ssr server client, relative to root
    monitoramento: str | None  # an existing /monitoramento page, relative to root
    package_manager: str
    env_files: tuple[str, ...] = field(default=())

    @property
    def base(self) -> str:
        return "src/" if self.src else ""

    @property
    def router(self) -> str:
        """The router our files go to: the App Router when the app has one (also when it has both)."""
        return "app" if self.app_router else "pages"

    def import_path(self, rel: str) -> str | None:
        """`@/imagefill/PainelDeImagens` for src/imagefill/PainelDeImagens.tsx, when an alias covers it."""
        if self.alias is None:
            return None
        prefix, target = self.alias
        target = target.removeprefix("./")
        if not rel.startswith(target):
            return None
        return prefix + re.sub(r"\.(tsx?|jsx?)$", "", rel.removeprefix(target))


def _dependencies(package: dict[str, object]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in ("devDependencies", "dependencies"):
        section = package.get(key)
        if isinstance(section, dict):
            found |= {str(k): str(v) for k, v in section.items()}
    return found


def strip_json_comments(text: str) -> str:
    """tsconfig.json allows comments and trailing commas; JSON does not. Strings are kept as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def _alias(root: Path) -> tuple[str, str] | None:
    for name in ("tsconfig.json", "jsconfig.json"):
        path = root / name
        if not path.is_file():
            continue
        try:
            config = json.loads(strip_json_comments(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError):
            return None
        options = config.get("compilerOptions") or {}
        base_url = str(options.get("baseUrl") or ".").rstrip("/")
        for key, targets in (options.get("paths") or {}).items():
            if key.endswith("/*") and targets and str(targets[0]).endswith("/*"):
                target = str(targets[0])[:-1]
                if base_url not in ("", "."):
                    target = f"./{base_url.removeprefix('./')}/{target.removeprefix('./')}"
                if not target.startswith("./"):
                    target = "./" + target
                if target in ("./", "./src/"):
                    return key[:-1], target
        return None
    return None


def _has_route_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix in PAGE_EXTENSIONS for p in folder.rglob("*") if p.is_file())


def _next_version(root: Path, declared: str | None) -> str | None:
    installed = root / "node_modules" / "next" / "package.json"
    if installed.is_file():
        try:
            return str(json.loads(installed.read_text(encoding="utf-8"))["version"])
        except (ValueError, KeyError):
            pass
    return declared


def _major(version: str | None) -> int | None:
    match = re.search(r"(\d+)", version or "")
    return int(match.group(1)) if match else None


def _cache_components(root: Path) -> bool:
    for name in NEXT_CONFIGS:
        path = root / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            return re.search(r"\bcacheComponents\s*:\s*true\b", text) is not None
    return False


def _find(root: Path, stems: tuple[str, ...], prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        for stem in stems:
            for ext in (".ts", ".js", ".tsx", ".jsx", ".mjs"):
                if (root / f"{prefix}{stem}{ext}").is_file():
                    return f"{prefix}{stem}{ext}"
    return None


def _monitoramento(root: Path, base: str) -> str | None:
    app = root / base / "app"
    if app.is_dir():
        for page in sorted(app.rglob("page.*")):
            parts = page.relative_to(app).parts
            # Route groups "(x)" and private folders do not change the URL; /monitoramento is the folder.
            url = [p for p in parts[:-1] if not p.startswith("(")]
            if url == ["monitoramento"] and page.suffix in PAGE_EXTENSIONS:
                return page.relative_to(root).as_posix()
    for stem in ("monitoramento", "monitoramento/index"):
        for ext in PAGE_EXTENSIONS:
            if (root / base / "pages" / f"{stem}{ext}").is_file():
                return f"{base}pages/{stem}{ext}"
    return None


def detect(root: Path) -> AppFacts:
    root = root.resolve()
    package_json = root / "package.json"
    if not package_json.is_file():
        raise AppError(f"{root}: package.json não encontrado. Indique a pasta do seu app Next.js com --app.")
    try:
        package = json.loads(package_json.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AppError(f"{package_json}: JSON inválido ({exc}).") from None
    deps = _dependencies(package)
    if "next" not in deps:
        raise AppError(
            f"{root}: o package.json não tem `next` nas dependências; isto não parece um app Next.js."
        )
    # Next.js ignores src/ when app/ or pages/ sit at the root.
    at_root = (root / "app").is_dir() or (root / "pages").is_dir()
    src = not at_root and ((root / "src" / "app").is_dir() or (root / "src" / "pages").is_dir())
    base = "src/" if src else ""
    app_router = _has_route_files(root / base / "app")
    pages_router = _has_route_files(root / base / "pages")
    if not (app_router or pages_router):
        raise AppError(
            f"{root}: nem app/ nem pages/ encontrados (nem em src/);"
            " não dá para saber qual roteador o app usa."
        )
    next_version = _next_version(root, deps.get("next"))
    prefixes = (base, "") if base else ("",)
    manager = next((name for lock, name in LOCKFILES if (root / lock).is_file()), "npm")
    env_files = tuple(n for n in (".env.local", ".env", ".env.development.local") if (root / n).is_file())
    return AppFacts(
        root=root,
        package=package,
        app_router=app_router,
        pages_router=pages_router,
        src=src,
        typescript=(root / "tsconfig.json").is_file(),
        alias=_alias(root),
        next_version=next_version,
        next_major=_major(next_version),
        cache_components=_cache_components(root),
        supabase_ssr=deps.get("@supabase/ssr"),
        supabase_js=deps.get("@supabase/supabase-js"),
        server_client=_find(root, SUPABASE_SERVER_CLIENTS, prefixes),
        monitoramento=_monitoramento(root, base),
        package_manager=manager,
        env_files=env_files,
    )
