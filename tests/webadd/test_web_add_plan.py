"""`imagefill web add` decisions on small real app folders, through the command itself: what it detects,
what it writes, what it never touches, what a re-run does, and the dependencies it adds. The full apps
(create-next-app, next build, Chromium) are in tests/browser/test_web_add_into_fresh_apps.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worker.offline.panel import WEB_DIR
from worker.webadd.detect import detect
from worker.webadd.install import make_plan

ROOT = Path(__file__).resolve().parents[2]
IMAGEFILL = str(Path(sys.executable).parent / "imagefill")
PACKAGE = {
    "name": "meu-app",
    "private": True,
    "dependencies": {"next": "16.4.3", "react": "19.3.0", "react-dom": "19.3.0"},
}


def web_add(app: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEFILL, "web", "add", "--app", str(app), *extra], capture_output=True, text=True, check=False
    )


def make_app(root: Path, files: dict[str, str], package: dict[str, object] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps(package or PACKAGE, indent=2) + "\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


APP_TS = {
    "tsconfig.json": (
        '{\n  // comments, as tsconfig allows\n  "compilerOptions": {"paths": {"@/*": ["./src/*"],},},\n}\n'
    ),
    "src/app/layout.tsx": "export default function L({ children }) { return children; }\n",
    "src/app/page.tsx": "export default function P() { return null; }\n",
    "src/lib/supabase/server.ts": "export async function createClient() {}\n",
    "next.config.ts": "export default { cacheComponents: true };\n",
}


def test_web_add_is_a_no_op_on_web_so_web_is_exactly_what_the_templates_write() -> None:
    """web/ is the minimal app after `imagefill web add`: the shipped templates are its source."""
    plan = make_plan(detect(WEB_DIR))
    pending = [(change.path, change.action) for change in plan.files if change.action != "same"]
    assert pending == [], "web/ differs from the templates: run `imagefill web add --app web`"
    assert not plan.dependencies


def test_the_javascript_templates_are_the_typescript_ones_transpiled() -> None:
    result = subprocess.run(
        ["node", str(ROOT / "scripts" / "webadd-js.mjs"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dry_run_prints_the_plan_in_portuguese_and_writes_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", APP_TS)
    before = snapshot(app)
    result = web_add(app, "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "App Router" in out and "TypeScript" in out and "src/: sim" in out
    assert "alias de import: @/* → ./src/*" in out and "cacheComponents: sim" in out
    assert "+ src/imagefill/PainelDeImagens.tsx (criar)" in out
    assert "+ src/app/api/imagefill/approve/route.ts (criar)" in out
    assert "+ src/app/monitoramento/page.tsx (criar)" in out
    assert "Nada foi escrito (--dry-run)." in out
    assert snapshot(app) == before


def test_the_pages_router_gets_api_handlers_and_a_page_with_get_server_side_props(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", {"pages/index.js": "export default function P() { return null; }\n"})
    result = web_add(app)
    assert result.returncode == 0, result.stderr
    assert "Pages Router" in result.stdout and "JavaScript" in result.stdout
    page = (app / "pages" / "monitoramento.jsx").read_text()
    assert "export const getServerSideProps = carregarMonitoramento;" in page
    assert 'from "../imagefill/pages-router"' in page
    handler = (app / "pages" / "api" / "imagefill" / "approve.js").read_text()
    assert (
        'export default rota("approve");' in handler and 'from "../../../imagefill/pages-router"' in handler
    )
    assert not (app / "imagefill" / "app-router.js").exists()
    assert not list(app.rglob("*.ts")) and not list(app.rglob("*.tsx"))


def test_an_app_with_both_routers_gets_the_app_router_files(tmp_path: Path) -> None:
    app = make_app(
        tmp_path / "app",
        {
            **{k: v for k, v in APP_TS.items() if not k.startswith("src/")},
            "app/page.tsx": "x\n",
            "pages/a.tsx": "x\n",
        },
    )
    result = web_add(app, "--dry-run")
    assert "App Router e Pages Router (os arquivos do painel vão para o App Router)" in result.stdout
    assert "+ app/api/imagefill/review/route.ts (criar)" in result.stdout


def test_an_existing_monitoramento_page_is_left_alone_and_the_lines_to_add_are_printed(
    tmp_path: Path,
) -> None:
    app = make_app(
        tmp_path / "app", {**APP_TS, "src/app/(painel)/monitoramento/page.tsx": "export default 1;\n"}
    )
    before = (app / "src/app/(painel)/monitoramento/page.tsx").read_bytes()
    result = web_add(app)
    assert result.returncode == 0, result.stderr
    assert (
        "O app já tem /monitoramento em src/app/(painel)/monitoramento/page.tsx (não alterado)"
        in result.stdout
    )
    assert 'import { PainelDeImagens } from "@/imagefill/PainelDeImagens";' in result.stdout
    assert "<PainelDeImagens />" in result.stdout
    assert (app / "src/app/(painel)/monitoramento/page.tsx").read_bytes() == before
    assert not (app / "src/app/monitoramento").exists()


def test_a_rerun_updates_its_own_files_keeps_the_ones_you_edited_and_never_touches_yours(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path / "app", APP_TS)
    assert web_add(app).returncode == 0
    edited = app / "src/imagefill/Atalhos.tsx"
    edited.write_text(edited.read_text() + "// my change\n")
    stale = app / "src/imagefill/api.ts"
    manifest_path = app / ".imagefill/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    # An older release wrote a different api.ts (and a file the panel no longer has).
    stale.write_text("// older release\n")
    gone = app / "src/imagefill/antigo.ts"
    gone.write_text("// dropped in this release\n")
    from worker.webadd.install import sha256

    manifest["files"]["src/imagefill/api.ts"] = sha256("// older release\n")
    manifest["files"]["src/imagefill/antigo.ts"] = sha256("// dropped in this release\n")
    manifest_path.write_text(json.dumps(manifest))

    result = web_add(app)
    assert result.returncode == 0, result.stderr
    assert "~ src/imagefill/api.ts (atualizado)" in result.stdout
    assert "- src/imagefill/antigo.ts (removido)" in result.stdout
    assert "! src/imagefill/Atalhos.tsx: editado por você" in result.stdout
    assert edited.read_text().endswith("// my change\n")
    assert "/api/imagefill/review" in stale.read_text() and not gone.exists()

    again = web_add(app)
    assert "Nada a mudar" in again.stdout and "! src/imagefill/Atalhos.tsx: editado por você" in again.stdout


def test_a_file_of_the_app_where_ours_goes_is_never_overwritten(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", {**APP_TS, "src/imagefill/rotas.ts": "// the app's own\n"})
    result = web_add(app)
    assert result.returncode == 1
    assert (
        "! src/imagefill/rotas.ts: já existe e não foi escrito pelo imagefill — não alterado" in result.stdout
    )
    assert (app / "src/imagefill/rotas.ts").read_text() == "// the app's own\n"
    assert "src/imagefill/rotas.ts" not in json.loads((app / ".imagefill/manifest.json").read_text())["files"]


def test_missing_supabase_packages_are_added_as_ranges_and_present_ones_never_change(tmp_path: Path) -> None:
    bare = make_app(tmp_path / "bare", APP_TS)
    result = web_add(bare)
    assert "adicionadas @supabase/ssr@^0.12.0, @supabase/supabase-js@^2.109.0" in result.stdout
    assert "`npm install`" in result.stdout
    deps = json.loads((bare / "package.json").read_text())["dependencies"]
    assert deps == {
        **PACKAGE["dependencies"],
        "@supabase/ssr": "^0.12.0",
        "@supabase/supabase-js": "^2.109.0",
    }  # type: ignore[dict-item]

    newer = {
        **PACKAGE,
        "dependencies": {
            **PACKAGE["dependencies"],
            "@supabase/ssr": "0.12.7",
            "@supabase/supabase-js": "^2.119.2",
        },
    }  # type: ignore[dict-item]
    app = make_app(tmp_path / "newer", APP_TS, newer)
    before = (app / "package.json").read_bytes()
    result = web_add(app)
    assert "package.json" not in result.stdout
    assert (app / "package.json").read_bytes() == before


def test_a_folder_that_is_not_a_next_app_gets_a_clear_error(tmp_path: Path) -> None:
    result = web_add(tmp_path)
    assert result.returncode == 2
    assert "package.json não encontrado" in result.stderr
    make_app(tmp_path / "x", {}, {"name": "x", "dependencies": {"react": "19"}})
    result = web_add(tmp_path / "x")
    assert result.returncode == 2 and "não parece um app Next.js" in result.stderr


@pytest.mark.parametrize("env", ["NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY", "NEXT_PUBLIC_SUPABASE_ANON_KEY"])
def test_either_key_name_satisfies_the_environment_check(tmp_path: Path, env: str) -> None:
    app = make_app(tmp_path / "app", {**APP_TS, ".env.local": f"NEXT_PUBLIC_SUPABASE_URL=x\n{env}=y\n"})
    assert "Defina no ambiente" not in web_add(app, "--dry-run").stdout
