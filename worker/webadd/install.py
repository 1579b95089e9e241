"""The plan `imagefill web add` makes for an app, and applying it.

The files come from the templates shipped in this package: templates/ts (the source) and templates/js
(the same files transpiled by scripts/webadd-js.mjs, for JavaScript-only apps). What was written is
recorded with its hash in the app's `.imagefill/manifest.json`: a later run updates a file of ours only
while it still has the recorded hash, so an edit you made is never overwritten (it is reported), and a
file we did not write is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from worker.webadd.detect import AppFacts

TEMPLATES = Path(__file__).resolve().parent / "templates"
MANIFEST = ".imagefill/manifest.json"
NAMESPACE = "imagefill"
ROUTE_PREFIX = "api/imagefill"
# The panel's routes and their methods (the same table as METODOS in templates/ts/namespace/rotas.ts).
ACTIONS = {
    "review": "GET",
    "progress": "GET",
    "backfill": "POST",
    "approve": "POST",
    "reject": "POST",
    "browser-search": "POST",
    "spend": "GET",
    "audit": "GET",
    "audit-figures": "GET",
    "audit-confirm": "POST",
    "audit-undo": "POST",
}
# Added only when missing, as ranges that accept newer releases; the floor is what web/ is built with.
DEPENDENCIES = {"@supabase/ssr": "^0.12.0", "@supabase/supabase-js": "^2.109.0"}
HEADER = "Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept)."


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the app, posix
    action: str  # create | update | same | edited | foreign | remove | kept-removed
    content: str | None = None


@dataclass
class Plan:
    facts: AppFacts
    files: list[FileChange] = field(default_factory=list)
    dependencies: dict[str, str] = field(default_factory=dict)  # to add
    old_dependencies: dict[str, str] = field(default_factory=dict)  # present, below our floor
    page_lines: list[str] = field(default_factory=list)  # for an existing /monitoramento of the app
    page_file: str | None = None
    manifest: dict[str, str] = field(default_factory=dict)

    def of(self, *actions: str) -> list[FileChange]:
        return [f for f in self.files if f.action in actions]

    def manifest_differs(self) -> bool:
        path = self.facts.root / MANIFEST
        return not path.is_file() or path.read_text(encoding="utf-8") != manifest_text(self.manifest)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(files: dict[str, str]) -> str:
    body = {"written_by": "imagefill web add", "files": dict(sorted(files.items()))}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8")).get("files", {})
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _language_ext(template: str, typescript: bool) -> str:
    if typescript or not template.endswith((".ts", ".tsx")):
        return template
    return re.sub(r"\.ts$", ".js", re.sub(r"\.tsx$", ".jsx", template))


def _template(relative: str, typescript: bool) -> str:
    folder = TEMPLATES / ("ts" if typescript else "js")
    return (folder / _language_ext(relative, typescript)).read_text(encoding="utf-8")


def _with_header(path: str, text: str) -> str:
    if path.endswith(".css"):
        return f"/* {HEADER} */\n{text}"
    return f"// {HEADER}\n{text}"


def _relative_import(from_file: str, to_dir: str) -> str:
    rel = os.path.relpath(to_dir, os.path.dirname(from_file)).replace(os.sep, "/")
    return rel if rel.startswith(".") else f"./{rel}"


def render_files(facts: AppFacts, with_page: bool, pages_side: bool) -> dict[str, str]:
    """Every file of ours for this app: path relative to the app → content."""
    ts = facts.typescript
    base = facts.base
    namespace = f"{base}{NAMESPACE}"
    rendered: dict[str, str] = {}
    folders = ["namespace", "namespace-app" if facts.router == "app" else "namespace-pages"]
    if pages_side and facts.router == "app":
        folders.append("namespace-pages")
    for folder in folders:
        for template in sorted((TEMPLATES / "ts" / folder).iterdir()):
            name = _language_ext(template.name, ts)
            rendered[f"{namespace}/{name}"] = _template(f"{folder}/{template.name}", ts)

    def place(template: str, target: str, **tokens: str) -> None:
        text = _template(template, ts).replace("__NS__", _relative_import(target, namespace))
        for key, value in tokens.items():
            text = text.replace(f"__{key}__", value)
        rendered[target] = text

    for action, method in ACTIONS.items():
        if facts.router == "app":
            target = f"{base}app/{ROUTE_PREFIX}/{action}/{_language_ext('route.ts', ts)}"
            place("app/route.ts", target, ACAO=action, METODO=method)
        else:
            target = f"{base}pages/{ROUTE_PREFIX}/{_language_ext(action + '.ts', ts)}"
            place("pages/route.ts", target, ACAO=action)
    if with_page:
        if facts.router == "app":
            place("app/page.tsx", f"{base}app/monitoramento/{_language_ext('page.tsx', ts)}")
        else:
            place("pages/page.tsx", f"{base}pages/{_language_ext('monitoramento.tsx', ts)}")
    return {path: _with_header(path, text) for path, text in rendered.items()}


def _page_lines(facts: AppFacts, page: str) -> list[str]:
    """What to add to the app's own /monitoramento page (we never edit it)."""
    namespace = f"{facts.base}{NAMESPACE}"

    def spec(module: str) -> str:
        return facts.import_path(f"{namespace}/{module}") or f"{_relative_import(page, namespace)}/{module}"

    if "/app/" in f"/{page}":
        return [
            f'import {{ PainelDeImagens }} from "{spec("PainelDeImagens")}";',
            "<PainelDeImagens />",
        ]
    return [
        f'import {{ TelaMonitoramento }} from "{spec("TelaMonitoramento")}";',
        f'import {{ carregarMonitoramento }} from "{spec("pages-router")}";',
        "export const getServerSideProps = carregarMonitoramento; // ou chame-a dentro do seu",
        "<TelaMonitoramento estado={props.estado} />",
    ]


def _dependency_plan(facts: AppFacts) -> tuple[dict[str, str], dict[str, str]]:
    present = {"@supabase/ssr": facts.supabase_ssr, "@supabase/supabase-js": facts.supabase_js}
    add: dict[str, str] = {}
    old: dict[str, str] = {}
    for name, wanted in DEPENDENCIES.items():
        have = present[name]
        if have is None:
            add[name] = wanted
        elif _below(have, wanted.lstrip("^")):
            old[name] = have
    return add, old


def _below(declared: str, floor: str) -> bool:
    """`^0.5.2` below 0.12.0? Only plain version ranges are compared; tags and URLs are left alone."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", declared)
    if not match:
        return False
    have = tuple(int(x) for x in match.groups())
    want = tuple(int(x) for x in floor.split("."))
    return have < want


def make_plan(facts: AppFacts) -> Plan:
    manifest = read_manifest(facts.root)
    page = facts.monitoramento
    ours_page = page is not None and page in manifest
    with_page = page is None or ours_page
    pages_side = page is not None and not ours_page and "/pages/" in f"/{page}"
    wanted = render_files(facts, with_page, pages_side)
    plan = Plan(facts)
    for path, text in sorted(wanted.items()):
        target = facts.root / path
        new_hash = sha256(text)
        if not target.exists():
            plan.files.append(FileChange(path, "create", text))
            plan.manifest[path] = new_hash
            continue
        current = target.read_bytes().decode("utf-8", errors="replace")
        current_hash = sha256(current)
        if current_hash == new_hash:
            plan.files.append(FileChange(path, "same"))
            plan.manifest[path] = new_hash
        elif path not in manifest:
            plan.files.append(FileChange(path, "foreign"))
        elif manifest[path] == current_hash:
            plan.files.append(FileChange(path, "update", text))
            plan.manifest[path] = new_hash
        else:
            plan.files.append(FileChange(path, "edited"))
            plan.manifest[path] = manifest[path]
    for path, recorded in sorted(manifest.items()):
        if path in wanted:
            continue
        target = facts.root / path
        if not target.exists():
            continue
        if sha256(target.read_bytes().decode("utf-8", errors="replace")) == recorded:
            plan.files.append(FileChange(path, "remove"))
        else:
            plan.files.append(FileChange(path, "kept-removed"))
    if page is not None and not ours_page:
        plan.page_file = page
        plan.page_lines = _page_lines(facts, page)
    plan.dependencies, plan.old_dependencies = _dependency_plan(facts)
    return plan


def _write_dependencies(root: Path, add: dict[str, str]) -> None:
    """Adds to package.json's dependencies, keeping its indentation; nothing else in it changes."""
    path = root / "package.json"
    text = path.read_text(encoding="utf-8")
    indent_match = re.search(r"\n([ \t]+)\"", text)
    indent = indent_match.group(1) if indent_match else "  "
    package = json.loads(text)
    deps = dict(package.get("dependencies") or {})
    deps.update(add)
    package["dependencies"] = dict(sorted(deps.items()))
    out = json.dumps(package, indent=indent, ensure_ascii=False)
    path.write_text(out + ("\n" if text.endswith("\n") else ""), encoding="utf-8")


def apply_plan(plan: Plan) -> None:
    root = plan.facts.root
    for change in plan.files:
        target = root / change.path
        if change.action in ("create", "update") and change.content is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change.content, encoding="utf-8")
        elif change.action == "remove":
            target.unlink()
            _remove_empty_parents(target.parent, root)
    if plan.dependencies:
        _write_dependencies(root, plan.dependencies)
    if plan.manifest_differs():
        manifest = root / MANIFEST
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(manifest_text(plan.manifest), encoding="utf-8")


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def install_command(facts: AppFacts) -> list[str]:
    return [facts.package_manager, "install"]


def run_install(facts: AppFacts) -> int:
    return subprocess.run(install_command(facts), cwd=facts.root, check=False).returncode


def _env_missing(facts: AppFacts) -> list[str]:
    names: set[str] = set()
    for name in facts.env_files:
        for line in (facts.root / name).read_text(encoding="utf-8", errors="replace").splitlines():
            key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if key:
                names.add(key)
    missing = [] if "NEXT_PUBLIC_SUPABASE_URL" in names else ["NEXT_PUBLIC_SUPABASE_URL"]
    if not names & {"NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY"}:
        missing.append("NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY")
    return missing


def describe_app(facts: AppFacts) -> list[str]:
    routers = " e ".join(
        name for name, on in (("App Router", facts.app_router), ("Pages Router", facts.pages_router)) if on
    )
    alias = f"{facts.alias[0]}* → {facts.alias[1]}*" if facts.alias else "nenhum"
    lines = [
        f"App: {facts.root}",
        f"  Next.js {facts.next_version or '?'} · {routers}"
        + (
            " (os arquivos do painel vão para o App Router)"
            if facts.app_router and facts.pages_router
            else ""
        ),
        f"  {'TypeScript' if facts.typescript else 'JavaScript'} · src/: {'sim' if facts.src else 'não'}"
        f" · alias de import: {alias} · cacheComponents: {'sim' if facts.cache_components else 'não'}",
    ]
    if facts.supabase_ssr:
        where = facts.server_client or "não encontrado nos caminhos do guia do Supabase"
        lines.append(
            f"  @supabase/ssr {facts.supabase_ssr} · cliente do servidor do app: {where}"
            " (não é alterado; o painel usa o próprio cliente, com os mesmos cookies de sessão)"
        )
    else:
        lines.append(
            "  @supabase/ssr não está instalado: o painel precisa do login do Supabase no app"
            " (guia do Supabase para Next.js)."
        )
    if facts.next_major is not None and facts.next_major < 15:
        lines.append(f"  atenção: o painel é testado com Next.js 15 e 16; este app usa {facts.next_version}.")
    return lines


LABELS = {
    "create": "criar",
    "update": "atualizar",
    "remove": "remover (não faz mais parte do painel)",
}


def describe_plan(plan: Plan, dry_run: bool) -> list[str]:
    facts = plan.facts
    lines = describe_app(facts)
    verb = {"create": "+", "update": "~", "remove": "-"}
    done = {"create": "criado", "update": "atualizado", "remove": "removido"}
    plan_word = "Plano" if dry_run else "Feito"
    changed = plan.of("create", "update", "remove")
    same = plan.of("same")
    lines.append("")
    if changed:
        lines.append(f"{plan_word}:")
        for change in changed:
            what = LABELS[change.action] if dry_run else done[change.action]
            lines.append(f"  {verb[change.action]} {change.path} ({what})")
    if same:
        lines.append(f"  = {len(same)} arquivo(s) do imagefill já atualizados")
    for change in plan.of("edited"):
        lines.append(f"  ! {change.path}: editado por você desde a última instalação — mantido como está")
    for change in plan.of("kept-removed"):
        lines.append(f"  ! {change.path}: não faz mais parte do painel, mas foi editado por você — mantido")
    for change in plan.of("foreign"):
        lines.append(f"  ! {change.path}: já existe e não foi escrito pelo imagefill — não alterado")
    if plan.page_file:
        lines.append("")
        lines.append(f"O app já tem /monitoramento em {plan.page_file} (não alterado). Acrescente nele:")
        lines.extend(f"    {line}" for line in plan.page_lines)
    if plan.dependencies:
        added = ", ".join(f"{k}@{v}" for k, v in plan.dependencies.items())
        lines.append("")
        lines.append(
            f"package.json: {'adicionar' if dry_run else 'adicionadas'} {added} (nenhuma outra mudança)."
        )
        lines.append(f"  Depois rode `{' '.join(install_command(facts))}` (ou use --install).")
    for name, have in plan.old_dependencies.items():
        lines.append(
            f"  atenção: {name} {have} é mais antigo que {DEPENDENCIES[name]};"
            " o painel é testado a partir desse."
            " Nada foi alterado."
        )
    missing = _env_missing(facts)
    if missing:
        lines.append("")
        lines.append(
            f"Defina no ambiente do Next.js (ex.: .env.local): {', '.join(missing)}"
            " (NEXT_PUBLIC_SUPABASE_ANON_KEY também é aceita)."
        )
    if not changed and not plan.dependencies:
        lines.append("")
        lines.append("Nada a mudar: os arquivos do imagefill neste app já estão atualizados.")
    elif dry_run:
        lines.append("")
        lines.append("Nada foi escrito (--dry-run).")
    return lines


def web_add(root: Path, dry_run: bool = False, install: bool = False) -> tuple[list[str], bool]:
    """The whole command: detect, plan, apply unless dry_run. Returns the report and whether every file
    of ours is in place (False when a file of the app sits where one of ours goes)."""
    from worker.webadd.detect import detect

    facts = detect(root)
    plan = make_plan(facts)
    lines = describe_plan(plan, dry_run)
    if not dry_run:
        apply_plan(plan)
        if install and plan.dependencies:
            code = run_install(facts)
            lines.append(f"`{' '.join(install_command(facts))}` terminou com código {code}.")
    return lines, not plan.of("foreign")
